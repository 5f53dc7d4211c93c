#include "crypto/password.h"

#include <sodium.h>

#include <charconv>
#include <string>

#include "crypto/encoding.h"
#include "crypto/sodium_init.h"

namespace gatehouse::crypto {
namespace {

constexpr std::size_t kSaltBytes = crypto_pwhash_argon2id_SALTBYTES;  // 16
constexpr std::size_t kHashBytes = 32;
// More lanes than this in a stored hash is not something any sane peer writes.
constexpr std::uint32_t kMaxVerifyParallelism = 255;

// The fields of a PHC argon2id string.
struct ParsedHash {
  Argon2Params params;
  std::size_t salt_bytes = 0;
  std::size_t hash_bytes = 0;
};

Error MalformedHash(std::string detail) {
  return InvalidArgument("malformed password hash", std::move(detail));
}

// Reads "<name>=<decimal>" with no sign, no leading zeros and no overflow.
bool ParseField(std::string_view field, std::string_view name, std::uint32_t& value) {
  if (field.size() <= name.size() + 1 || field.substr(0, name.size()) != name ||
      field[name.size()] != '=') {
    return false;
  }
  const std::string_view digits = field.substr(name.size() + 1);
  if (digits.size() > 1 && digits[0] == '0') return false;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return ec == std::errc() && end == digits.data() + digits.size();
}

// Splits off the text before the next '$' (or the rest).
std::string_view NextPart(std::string_view& rest) {
  const std::size_t dollar = rest.find('$');
  const std::string_view part = rest.substr(0, dollar);
  rest = dollar == std::string_view::npos ? std::string_view() : rest.substr(dollar + 1);
  return part;
}

// Decodes unpadded standard base64, as PHC strings use, by restoring the
// padding and calling the strict decoder.
Result<std::size_t> DecodedLength(std::string_view unpadded) {
  if (unpadded.find('=') != std::string_view::npos) return MalformedHash("padded base64");
  std::string padded(unpadded);
  while (padded.size() % 4 != 0) padded.push_back('=');
  auto decoded = Base64Decode(padded);
  if (!decoded.ok()) return std::move(decoded).error();
  return decoded->size();
}

Result<ParsedHash> ParseHash(std::string_view encoded) {
  // Shape: "" $ "argon2id" $ "v=19" $ "m=..,t=..,p=.." $ salt $ hash
  std::string_view rest = encoded;
  if (!NextPart(rest).empty()) return MalformedHash("does not start with '$'");
  if (NextPart(rest) != "argon2id") return MalformedHash("not an argon2id hash");
  std::uint32_t version = 0;
  if (!ParseField(NextPart(rest), "v", version) || version != 19) {
    return MalformedHash("not argon2 version 19");
  }

  ParsedHash parsed;
  std::string_view cost = NextPart(rest);
  const std::size_t c1 = cost.find(',');
  const std::size_t c2 = c1 == std::string_view::npos ? c1 : cost.find(',', c1 + 1);
  if (c2 == std::string_view::npos || cost.find(',', c2 + 1) != std::string_view::npos ||
      !ParseField(cost.substr(0, c1), "m", parsed.params.memory_kib) ||
      !ParseField(cost.substr(c1 + 1, c2 - c1 - 1), "t", parsed.params.iterations) ||
      !ParseField(cost.substr(c2 + 1), "p", parsed.params.parallelism)) {
    return MalformedHash("bad cost parameters");
  }

  const std::string_view salt = NextPart(rest);
  const std::string_view hash = NextPart(rest);
  if (!rest.empty() || encoded.back() == '$') return MalformedHash("unexpected trailing fields");
  auto salt_bytes = DecodedLength(salt);
  auto hash_bytes = DecodedLength(hash);
  if (!salt_bytes.ok() || !hash_bytes.ok()) return MalformedHash("salt or hash is not base64");
  parsed.salt_bytes = *salt_bytes;
  parsed.hash_bytes = *hash_bytes;
  return parsed;
}

// Bounds for stored hashes: wide enough for any sane peer's output, narrow
// enough that a tampered record cannot make verification allocate gigabytes.
Status CheckVerifiable(const ParsedHash& parsed) {
  const Argon2Params& p = parsed.params;
  // RFC 9106 section 3.1: m >= 8p KiB, t >= 1, 1 <= p; salt >= 8, tag >= 4 bytes.
  if (p.parallelism < 1 || p.parallelism > kMaxVerifyParallelism || p.iterations < 1 ||
      p.iterations > kArgon2MaxIterations || p.memory_kib < 8 * p.parallelism ||
      p.memory_kib > kArgon2MaxMemoryKib || parsed.salt_bytes < 8 || parsed.hash_bytes < 4) {
    return MalformedHash("parameters out of bounds");
  }
  return Ok();
}

Status CheckPasswordLength(std::string_view password) {
  if (password.size() > kMaxPasswordBytes) {
    return InvalidArgument("password too long",
                           "password above " + std::to_string(kMaxPasswordBytes) + " bytes");
  }
  return Ok();
}

}  // namespace

Status ValidateArgon2Params(const Argon2Params& params) {
  if (params.memory_kib < kArgon2MinMemoryKib || params.memory_kib > kArgon2MaxMemoryKib) {
    return InvalidArgument("invalid argon2 parameters",
                           "memory_kib must be in [" + std::to_string(kArgon2MinMemoryKib) + ", " +
                               std::to_string(kArgon2MaxMemoryKib) + "]");
  }
  if (params.iterations < kArgon2MinIterations || params.iterations > kArgon2MaxIterations) {
    return InvalidArgument("invalid argon2 parameters",
                           "iterations must be in [" + std::to_string(kArgon2MinIterations) + ", " +
                               std::to_string(kArgon2MaxIterations) + "]");
  }
  if (params.parallelism != 1) {
    // libsodium's argon2id has no multi-lane mode; silently hashing with p=1
    // while the config says otherwise would misstate the stored cost.
    return InvalidArgument("invalid argon2 parameters",
                           "parallelism must be 1: libsodium computes argon2id with one lane");
  }
  return Ok();
}

Result<std::string> HashPassword(std::string_view password, const Argon2Params& params) {
  GH_RETURN_IF_ERROR(ValidateArgon2Params(params));
  GH_RETURN_IF_ERROR(CheckPasswordLength(password));
  EnsureSodiumInitialized();

  // libsodium draws the 16-byte salt itself from the system CSPRNG and writes
  // the PHC string; its output length is fixed at 32 bytes.
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), params.iterations,
                            std::size_t{params.memory_kib} * 1024,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    // The only runtime failure left after validation is allocation.
    return Error(ErrorCode::kResourceExhausted, "server busy, try again later",
                 "argon2id could not allocate its memory");
  }
  return std::string(out);
}

Result<bool> VerifyPassword(std::string_view password, std::string_view encoded) {
  GH_RETURN_IF_ERROR(CheckPasswordLength(password));
  auto parsed = ParseHash(encoded);
  if (!parsed.ok()) return std::move(parsed).error();
  GH_RETURN_IF_ERROR(CheckVerifiable(*parsed));
  EnsureSodiumInitialized();

  // libsodium wants a NUL-terminated string; the hash is public data.
  const std::string terminated(encoded);
  if (crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0) {
    return true;
  }

  // libsodium answers -1 both for a mismatch and for a failure to allocate the
  // argon2 memory; the string already parsed, so those are the only causes.
  // Both come back as false: under memory exhaustion a right password is
  // refused, which fails closed.
  return false;
}

bool NeedsRehash(std::string_view encoded, const Argon2Params& params) {
  auto parsed = ParseHash(encoded);
  if (!parsed.ok()) return true;
  const Argon2Params& have = parsed->params;
  return have.memory_kib != params.memory_kib || have.iterations != params.iterations ||
         have.parallelism != params.parallelism || parsed->salt_bytes < kSaltBytes ||
         parsed->hash_bytes < kHashBytes;
}

}  // namespace gatehouse::crypto
