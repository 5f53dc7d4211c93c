#include "crypto/jose_jws.h"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>

#include "crypto/bytes.h"
#include "crypto/encoding.h"
#include "crypto/jose_base64.h"
#include "crypto/jose_error.h"
#include "crypto/jose_json.h"

namespace gatehouse::crypto {
namespace {

namespace json = boost::json;

// Header parameters that are refused outright, with the reason in the detail. See the
// header comment for why each is dangerous.
struct RefusedParameter {
  std::string_view name;
  std::string_view detail;
};
constexpr std::array<RefusedParameter, 10> kRefusedParameters = {{
    {"jwk", "header carries key material (jwk)"},
    {"jku", "header carries key material (jku)"},
    {"x5u", "header carries key material (x5u)"},
    {"x5c", "header carries key material (x5c)"},
    {"crit", "crit header present"},
    {"b64", "b64 header present"},
    {"zip", "zip header present"},
    {"enc", "enc header present"},
    {"p2c", "p2c header present"},
    {"p2s", "p2s header present"},
}};

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

// RFC 7515 section 4.1.9: media type names compare case-insensitively, and "application/"
// may be left out of `typ`.
bool TypMatches(std::string_view typ, std::string_view expected) {
  constexpr std::string_view kPrefix = "application/";
  if (typ.size() > kPrefix.size() &&
      EqualsIgnoreAsciiCase(typ.substr(0, kPrefix.size()), kPrefix)) {
    typ.remove_prefix(kPrefix.size());
  }
  if (expected.size() > kPrefix.size() &&
      EqualsIgnoreAsciiCase(expected.substr(0, kPrefix.size()), kPrefix)) {
    expected.remove_prefix(kPrefix.size());
  }
  return EqualsIgnoreAsciiCase(typ, expected);
}

struct CompactParts {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input;  // header '.' payload, what the signature covers.
};

Result<CompactParts> Split(std::string_view token) {
  // Size first: nothing below may spend effort proportional to an unbounded input.
  if (token.size() > kMaxJwsSize) return InvalidToken("token too large");
  if (token.empty()) return InvalidToken("token empty");

  const std::size_t first = token.find('.');
  const std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return InvalidToken("token does not have three parts");
  }
  CompactParts parts;
  parts.header = token.substr(0, first);
  parts.payload = token.substr(first + 1, second - first - 1);
  parts.signature = token.substr(second + 1);
  parts.signing_input = token.substr(0, second);
  if (parts.header.empty()) return InvalidToken("empty header");
  if (parts.payload.empty()) return InvalidToken("empty payload");
  if (parts.signature.empty()) return InvalidToken("empty signature");
  return parts;
}

// Room for any decoded part: the whole token is at most kMaxJwsSize characters. One
// buffer on the stack serves the header, the signature and the payload in turn.
using DecodeBuffer = std::array<std::uint8_t, kMaxJwsSize / 4 * 3>;

Result<json::object> DecodeObject(std::string_view part, std::string_view what,
                                  DecodeBuffer& buffer, const json::storage_ptr& storage) {
  const std::optional<std::size_t> size = Base64UrlDecodeInto(part, buffer);
  if (!size) return InvalidToken(std::string(what) + " is not canonical base64url");
  return ParseJoseObject(AsChars(std::span(buffer).first(*size)), what, storage);
}

// Header and payload share one arena: a verified token's JSON costs two allocations
// instead of one per object, array and long string. It is freed when the last value
// using it (usually TokenClaims::raw) is destroyed.
json::storage_ptr NewArena() {
  constexpr std::size_t kFirstBlock = 1024;  // A typical header plus claim set.
  return json::make_shared_resource<json::monotonic_resource>(kFirstBlock);
}

struct HeaderFacts {
  JwsAlgorithm alg;
  std::optional<std::string_view> kid;  // Validated by IsValidKid when present.
};

// Step 4 of the header comment, up to (not including) the key lookup. One pass over the
// members collects what the checks need; the checks then run in the documented order.
Result<HeaderFacts> CheckHeader(const json::object& header, const JwsVerifyOptions& options) {
  const json::value* alg = nullptr;
  const json::value* typ = nullptr;
  const json::value* kid = nullptr;
  std::size_t refused = kRefusedParameters.size();  // The first in table order, if any.
  for (const json::key_value_pair& member : header) {
    const std::string_view name = member.key();
    if (name == "alg") {
      alg = &member.value();
    } else if (name == "typ") {
      typ = &member.value();
    } else if (name == "kid") {
      kid = &member.value();
    } else {
      for (std::size_t i = 0; i < refused; ++i) {
        if (name == kRefusedParameters[i].name) refused = i;
      }
    }
  }

  if (alg == nullptr || !alg->is_string()) return InvalidToken("alg missing");
  const std::string_view alg_name = alg->get_string();
  // Named separately so logs show the attack for what it is (RFC 8725 section 3.2).
  if (EqualsIgnoreAsciiCase(alg_name, "none")) return InvalidToken("alg none");

  if (refused < kRefusedParameters.size()) {
    return InvalidToken(std::string(kRefusedParameters[refused].detail));
  }

  const std::optional<JwsAlgorithm> parsed = ParseJwsAlgorithm(alg_name);
  if (!parsed) return InvalidToken("alg not supported");

  if (typ != nullptr && !typ->is_string()) return InvalidToken("typ not a string");
  if (!options.expected_typ.empty()) {
    if (typ == nullptr) return InvalidToken("typ missing");
    if (!TypMatches(typ->get_string(), options.expected_typ)) return InvalidToken("typ mismatch");
  }

  HeaderFacts facts{*parsed, std::nullopt};
  if (kid != nullptr) {
    if (!kid->is_string()) return InvalidToken("kid not a string");
    // Checked before any lookup: a kid like "../../etc/passwd" or "' OR 1=1--" never
    // reaches a map, a file name or a query, whatever a future key store looks like.
    if (!IsValidKid(kid->get_string())) return InvalidToken("kid malformed");
    facts.kid = kid->get_string();
  }
  return facts;
}

Result<VerifiedJws> VerifyWith(const CompactParts& parts, json::object header,
                               const HeaderFacts& facts, const SigningKey& key,
                               const JwsVerifyOptions& options, DecodeBuffer& buffer) {
  // RFC 8725 section 3.1: the algorithm is the key's; the token may only agree with it.
  if (facts.alg != key.alg()) return InvalidToken("alg mismatch for kid");

  const std::optional<std::size_t> signature_size = Base64UrlDecodeInto(parts.signature, buffer);
  if (!signature_size) return InvalidToken("signature is not canonical base64url");
  GH_RETURN_IF_ERROR(key.VerifySignature(
      parts.signing_input, std::span(buffer).first(*signature_size), options.ecdsa_low_s_only));

  auto payload = DecodeObject(parts.payload, "payload", buffer, header.storage());
  if (!payload.ok()) return std::move(payload).error();
  return VerifiedJws{facts.alg, facts.kid ? std::string(*facts.kid) : std::string(),
                     std::move(header), std::move(*payload)};
}

}  // namespace

Result<VerifiedJws> VerifyJws(std::string_view token, const SigningKeys& keys,
                              const JwsVerifyOptions& options) {
  auto parts = Split(token);
  if (!parts.ok()) return std::move(parts).error();
  DecodeBuffer buffer;
  auto header = DecodeObject(parts->header, "header", buffer, NewArena());
  if (!header.ok()) return std::move(header).error();
  auto facts = CheckHeader(*header, options);
  if (!facts.ok()) return std::move(facts).error();

  if (!facts->kid) {
    // With several keys, guessing or trying each would turn one verification into many
    // and blur which key vouched for the token.
    return InvalidToken("kid missing");
  }
  const SigningKey* key = keys.Find(*facts->kid);
  if (key == nullptr) return InvalidToken("unknown kid");
  return VerifyWith(*parts, std::move(*header), *facts, *key, options, buffer);
}

Result<VerifiedJws> VerifyJws(std::string_view token, const SigningKey& key,
                              const JwsVerifyOptions& options) {
  auto parts = Split(token);
  if (!parts.ok()) return std::move(parts).error();
  DecodeBuffer buffer;
  auto header = DecodeObject(parts->header, "header", buffer, NewArena());
  if (!header.ok()) return std::move(header).error();
  auto facts = CheckHeader(*header, options);
  if (!facts.ok()) return std::move(facts).error();

  if (facts->kid && *facts->kid != key.kid()) return InvalidToken("kid does not match the key");
  return VerifyWith(*parts, std::move(*header), *facts, key, options, buffer);
}

Result<std::string> SignJws(const json::object& header_fields, const json::object& payload,
                            const SigningKey& key) {
  if (!key.can_sign()) {
    return Error(ErrorCode::kFailedPrecondition, "cannot sign", "key is public only");
  }
  json::object header;
  header["alg"] = JwsAlgorithmName(key.alg());
  header["kid"] = key.kid();
  for (const auto& field : header_fields) {
    const std::string_view name = field.key();
    if (name == "alg" || name == "kid") {
      return InvalidArgument("invalid token header", "alg and kid come from the key");
    }
    for (const RefusedParameter& refused : kRefusedParameters) {
      if (name == refused.name) {
        return InvalidArgument("invalid token header", "header parameter the verifier refuses");
      }
    }
    header[name] = field.value();
  }

  std::string token = Base64UrlEncode(json::serialize(header));
  token += '.';
  token += Base64UrlEncode(json::serialize(payload));
  auto signature = key.Sign(token);
  if (!signature.ok()) return std::move(signature).error();
  token += '.';
  token += Base64UrlEncode(*signature);
  if (token.size() > kMaxJwsSize) {
    return InvalidArgument("token too large", "signed token exceeds the verifier's size cap");
  }
  return token;
}

}  // namespace gatehouse::crypto
