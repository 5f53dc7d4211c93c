#pragma once

// Strict JSON parsing shared by every room that reads untrusted JSON (request bodies,
// JOSE headers and claim sets).
//
// Accepts exactly one JSON value (RFC 8259): no comments, no trailing commas, valid UTF-8,
// nesting at most `max_depth`, and no object at any depth repeating a member name. The
// RFCs let a parser keep the first or the last of duplicate names, and libraries differ,
// so a document with {"alg":"HS256","alg":"none"} would mean different things to this
// service and to a proxy or library beside it: duplicates are refused.
//
// Thread safety: a pure function; working memory is per thread.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

namespace gatehouse::core {

enum class JsonFailure { kNone, kDuplicateName, kTooDeep, kSyntax, kResources };

struct StrictJsonOutcome {
  JsonFailure failure = JsonFailure::kNone;
  boost::json::value value;             // Set when failure is kNone.
  std::string duplicate_name;           // Set for kDuplicateName; untrusted text.
  std::string syntax_detail;            // Set for kSyntax: the parser's message and offset.
};

// The value's memory comes from `storage` (the default heap when null).
StrictJsonOutcome ParseStrictJson(std::string_view text, std::size_t max_depth,
                                  boost::json::storage_ptr storage = {});

}  // namespace gatehouse::core
