#include "crypto/jose_json.h"

#include <string>
#include <utility>

#include "core/strict_json.h"
#include "crypto/jose_error.h"

namespace gatehouse::crypto {

Result<boost::json::object> ParseJoseObject(std::string_view text, std::string_view what,
                                            boost::json::storage_ptr storage) {
  const auto fail = [what](std::string_view problem) {
    return InvalidToken(std::string(what) + std::string(problem));
  };
  core::StrictJsonOutcome parsed =
      core::ParseStrictJson(text, kMaxJoseJsonDepth, std::move(storage));
  switch (parsed.failure) {
    case core::JsonFailure::kNone:
      break;
    case core::JsonFailure::kDuplicateName:
      return fail(" repeats a member name");
    case core::JsonFailure::kTooDeep:
      return fail(" is nested too deeply");
    case core::JsonFailure::kSyntax:
      return fail(" is not valid JSON");
    case core::JsonFailure::kResources:
      return fail(" could not be parsed");
  }
  if (!parsed.value.is_object()) return fail(" is not a JSON object");
  return std::move(parsed.value.get_object());
}

}  // namespace gatehouse::crypto
