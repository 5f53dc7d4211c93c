#include "core/strict_json.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

namespace gatehouse::core {
namespace {

namespace json = boost::json;

// Objects with at most this many members are checked for duplicates by comparing each
// new name with the earlier ones; larger objects are sorted once when they close, so an
// object with thousands of members costs O(n log n), not O(n^2).
constexpr std::size_t kLinearScanLimit = 16;

// Per-thread working memory for the duplicate check, kept between parses so that a
// verification allocates nothing for it once warm.
struct NameScratch {
  struct NameRef {
    std::size_t offset;
    std::size_t size;
  };
  std::string bytes;                       // Names of all open objects, back to back.
  std::vector<NameRef> names;              // Into bytes; the innermost object's last.
  std::vector<std::size_t> object_starts;  // Index into names of each open object.
  std::string pending;                     // A name being assembled from parts.

  void Clear() {
    bytes.clear();
    names.clear();
    object_starts.clear();
    pending.clear();
  }
};

// Builds the value as Boost.JSON's own parser does and remembers the names of every open
// object to find repeats, which the stock parser would resolve silently (last one wins).
class DuplicateRejectingHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  // `temp` is scratch space for the value stack (it falls back to the heap when full).
  DuplicateRejectingHandler(NameScratch& scratch, std::span<unsigned char> temp)
      : st(json::storage_ptr(), temp.data(), temp.size()), scratch_(scratch) {
    scratch_.Clear();
  }

  json::value_stack st;

  // The first repeated member name found, if any.
  const std::optional<std::string>& duplicate() const { return duplicate_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    scratch_.object_starts.push_back(scratch_.names.size());
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code& ec) {
    auto& names = scratch_.names;
    const std::size_t start = scratch_.object_starts.back();
    scratch_.object_starts.pop_back();
    if (names.size() - start > kLinearScanLimit) {
      std::vector<std::string_view> sorted;
      sorted.reserve(names.size() - start);
      for (std::size_t i = start; i < names.size(); ++i) sorted.push_back(Name(i));
      std::sort(sorted.begin(), sorted.end());
      const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
      if (dup != sorted.end()) return Fail(*dup, ec);
    }
    names.resize(start);
    // The names' bytes stay until the outermost object closes; Clear() drops them.
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    scratch_.pending.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    st.push_key(s);
    std::string_view name(s.data(), s.size());
    if (!scratch_.pending.empty()) {
      scratch_.pending.append(s.data(), s.size());
      name = scratch_.pending;
    }
    const auto& names = scratch_.names;
    const std::size_t start = scratch_.object_starts.back();
    if (names.size() - start < kLinearScanLimit) {
      for (std::size_t i = start; i < names.size(); ++i) {
        if (Name(i) == name) return Fail(name, ec);
      }
    }
    scratch_.names.push_back({scratch_.bytes.size(), name.size()});
    scratch_.bytes.append(name);
    scratch_.pending.clear();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  std::string_view Name(std::size_t i) const {
    const NameScratch::NameRef& ref = scratch_.names[i];
    return std::string_view(scratch_.bytes).substr(ref.offset, ref.size);
  }
  bool Fail(std::string_view name, json::error_code& ec) {
    duplicate_ = std::string(name);
    ec = json::error::syntax;
    return false;
  }

  NameScratch& scratch_;
  std::optional<std::string> duplicate_;
};

StrictJsonOutcome ParseUnguarded(std::string_view text, std::size_t max_depth,
                                 json::storage_ptr storage) {
  json::parse_options options;
  options.max_depth = max_depth;
  options.allow_comments = false;
  options.allow_trailing_commas = false;
  options.allow_invalid_utf8 = false;

  thread_local NameScratch scratch;
  // Room for the value stack of a typical document without touching the heap.
  unsigned char temp[2048];
  json::basic_parser<DuplicateRejectingHandler> parser(options, scratch, std::span(temp));
  parser.handler().st.reset(std::move(storage));
  json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;

  StrictJsonOutcome outcome;
  if (const auto& dup = parser.handler().duplicate()) {
    outcome.failure = JsonFailure::kDuplicateName;
    outcome.duplicate_name = *dup;
  } else if (ec == json::error::too_deep) {
    outcome.failure = JsonFailure::kTooDeep;
  } else if (ec) {
    outcome.failure = JsonFailure::kSyntax;
    outcome.syntax_detail = "json: " + ec.message() + " at byte " + std::to_string(used);
  } else {
    outcome.value = parser.handler().st.release();
  }
  return outcome;
}

}  // namespace

StrictJsonOutcome ParseStrictJson(std::string_view text, std::size_t max_depth,
                                  json::storage_ptr storage) {
  // Allocation failure and Boost.JSON's own limits surface as exceptions; they stop here.
  try {
    return ParseUnguarded(text, max_depth, std::move(storage));
  } catch (const std::exception&) {
    StrictJsonOutcome outcome;
    outcome.failure = JsonFailure::kResources;
    return outcome;
  }
}

}  // namespace gatehouse::core
