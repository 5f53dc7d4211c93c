#include "crypto/jose_keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include "crypto/bytes.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/jose_error.h"

namespace gatehouse::crypto {
namespace {

constexpr std::size_t kHs256SignatureSize = 32;
constexpr std::size_t kEs256SignatureSize = 64;
constexpr std::size_t kEdDsaSignatureSize = 64;
constexpr std::size_t kP256CoordinateSize = 32;
constexpr std::size_t kMaxPemFileSize = 64 * 1024;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;
// Public exponents are small in practice (65537); a long one is a sign of a forged key.
constexpr std::size_t kMaxRsaExponentSize = 8;

// Half the order n of P-256 (FIPS 186-4 D.1.2.3), rounded down: S above it is "high".
constexpr std::array<std::uint8_t, 32> kP256HalfOrder = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};
constexpr std::array<std::uint8_t, 32> kP256Order = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

Error BadKey(std::string detail) {
  return InvalidArgument("invalid signing key", std::move(detail));
}

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigFree>;
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ParamFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

// The DER body of the single PEM block in `text`, labelled `label`. Anything but
// whitespace around the block, a second block or RFC 1421 headers (encryption) refuse.
// `wipe` says the body is key material, cleansed when freed.
class PemBody {
 public:
  static Result<PemBody> Read(std::string_view text, const char* label, bool wipe) {
    const auto not_space = text.find_first_not_of(" \t\r\n");
    if (not_space == std::string_view::npos || text.substr(not_space, 11) != "-----BEGIN ") {
      return BadKey("not a single PEM block");
    }
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) return Internal("BIO_new_mem_buf failed");

    PemBody body(wipe);
    char* name = nullptr;
    char* header = nullptr;
    if (PEM_read_bio(bio.get(), &name, &header, &body.data_, &body.size_) != 1) {
      ERR_clear_error();
      return BadKey("not a single PEM block");
    }
    const bool label_ok = std::strcmp(name, label) == 0;
    const bool has_headers = header[0] != '\0';
    OPENSSL_free(name);
    OPENSSL_free(header);
    if (!label_ok) return BadKey(std::string("PEM label must be ") + label);
    if (has_headers) return BadKey("PEM block has headers (encrypted keys are not supported)");

    char* rest = nullptr;
    const long rest_size = BIO_get_mem_data(bio.get(), &rest);
    if (std::string_view(rest, rest_size).find_first_not_of(" \t\r\n") != std::string_view::npos) {
      return BadKey("not a single PEM block");
    }
    return body;
  }

  PemBody(PemBody&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(other.size_), wipe_(other.wipe_) {}
  PemBody& operator=(PemBody&&) = delete;
  ~PemBody() {
    if (wipe_) {
      OPENSSL_clear_free(data_, static_cast<std::size_t>(size_));
    } else {
      OPENSSL_free(data_);
    }
  }

  const unsigned char* data() const { return data_; }
  long size() const { return size_; }

 private:
  explicit PemBody(bool wipe) : wipe_(wipe) {}

  unsigned char* data_ = nullptr;
  long size_ = 0;
  bool wipe_;
};

Result<std::string> ReadSmallFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("key file not readable", std::string(what) + " file cannot be opened");
  std::string text;
  text.resize(kMaxPemFileSize + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) return NotFound("key file not readable", std::string(what) + " file read failed");
  if (text.size() > kMaxPemFileSize) {
    SecureWipe(text);
    return BadKey(std::string(what) + " file is larger than 64 KiB");
  }
  return text;
}

// The algorithm a key type implies; only Ed25519 and EC keys on P-256 qualify.
Result<JwsAlgorithm> AlgorithmOf(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "ED25519")) return JwsAlgorithm::kEdDsa;
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[32] = {};
    std::size_t group_size = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &group_size) != 1 ||
        std::string_view(group, group_size) != "prime256v1") {
      return BadKey("EC key is not on P-256");
    }
    return JwsAlgorithm::kEs256;
  }
  return BadKey("key type is neither Ed25519 nor EC P-256");
}

Result<std::array<std::uint8_t, kP256CoordinateSize>> EcCoordinate(EVP_PKEY* pkey,
                                                                   const char* param) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, param, &raw) != 1) return BadKey("EC key has no public point");
  BnPtr bn(raw);
  std::array<std::uint8_t, kP256CoordinateSize> out;
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(out.size())) < 0) {
    return BadKey("EC coordinate too large");
  }
  return out;
}

// Returns the DER ECDSA signature for raw R||S, or an empty vector when it cannot be built.
std::vector<std::uint8_t> RawToDer(std::span<const std::uint8_t> raw) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(raw.data(), kP256CoordinateSize, nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + kP256CoordinateSize, kP256CoordinateSize, nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return {};
  }
  const int size = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (size <= 0) return {};
  std::vector<std::uint8_t> der(static_cast<std::size_t>(size));
  unsigned char* out = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &out) != size) return {};
  return der;
}

// Converts OpenSSL's DER signature to R||S with S folded to the low half.
Result<std::vector<std::uint8_t>> DerToLowSRaw(std::span<const std::uint8_t> der) {
  const unsigned char* in = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
  if (!sig) return Internal("ES256: cannot parse own DER signature");
  const BIGNUM* r = ECDSA_SIG_get0_r(sig.get());
  const BIGNUM* s = ECDSA_SIG_get0_s(sig.get());

  std::vector<std::uint8_t> raw(kEs256SignatureSize);
  if (BN_bn2binpad(r, raw.data(), kP256CoordinateSize) < 0 ||
      BN_bn2binpad(s, raw.data() + kP256CoordinateSize, kP256CoordinateSize) < 0) {
    return Internal("ES256: signature component too large");
  }
  if (std::memcmp(raw.data() + kP256CoordinateSize, kP256HalfOrder.data(), 32) > 0) {
    BnPtr n(BN_bin2bn(kP256Order.data(), kP256Order.size(), nullptr));
    BnPtr low(BN_new());
    if (!n || !low || BN_sub(low.get(), n.get(), s) != 1 ||
        BN_bn2binpad(low.get(), raw.data() + kP256CoordinateSize, kP256CoordinateSize) < 0) {
      return Internal("ES256: cannot normalise S");
    }
  }
  return raw;
}

// A big-endian unsigned integer member of a JWK ("n", "x", ...), canonical base64url.
Result<std::vector<std::uint8_t>> JwkBytes(const boost::json::object& jwk, std::string_view name) {
  const boost::json::value* v = jwk.if_contains(name);
  if (v == nullptr || !v->is_string())
    return BadKey("JWK member " + std::string(name) + " missing");
  auto bytes = Base64UrlDecode(v->as_string());
  if (!bytes.ok() || bytes->empty()) {
    return BadKey("JWK member " + std::string(name) + " is not canonical base64url");
  }
  return std::move(bytes).value();
}

// The key a JWK's public members describe, and the algorithm its type implies.
Result<std::pair<EVP_PKEY*, JwsAlgorithm>> PublicPkeyFromJwk(const boost::json::object& jwk,
                                                             std::string_view kty) {
  if (kty == "OKP") {
    const boost::json::value* crv = jwk.if_contains("crv");
    if (crv == nullptr || !crv->is_string() || crv->as_string() != "Ed25519") {
      return BadKey("OKP JWK is not Ed25519");
    }
    auto x = JwkBytes(jwk, "x");
    if (!x.ok()) return std::move(x).error();
    if (x->size() != 32) return BadKey("Ed25519 JWK x is not 32 bytes");
    EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, x->data(), x->size());
    if (pkey == nullptr) {
      ERR_clear_error();
      return BadKey("Ed25519 JWK x is not a public key");
    }
    return std::pair{pkey, JwsAlgorithm::kEdDsa};
  }

  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld) return Internal("OSSL_PARAM_BLD_new failed");
  BnPtr n, e;
  std::vector<std::uint8_t> point;
  const char* type = nullptr;
  JwsAlgorithm alg;
  if (kty == "RSA") {
    auto n_bytes = JwkBytes(jwk, "n");
    if (!n_bytes.ok()) return std::move(n_bytes).error();
    auto e_bytes = JwkBytes(jwk, "e");
    if (!e_bytes.ok()) return std::move(e_bytes).error();
    if (e_bytes->size() > kMaxRsaExponentSize) return BadKey("RSA JWK exponent too long");
    // Refuse huge moduli before building anything: verification cost grows with them.
    if (n_bytes->size() > kMaxRsaBits / 8 + 1) return BadKey("RSA modulus over 8192 bits");
    n.reset(BN_bin2bn(n_bytes->data(), static_cast<int>(n_bytes->size()), nullptr));
    e.reset(BN_bin2bn(e_bytes->data(), static_cast<int>(e_bytes->size()), nullptr));
    if (!n || !e) return Internal("BN_bin2bn failed");
    const int bits = BN_num_bits(n.get());
    if (bits < kMinRsaBits || bits > kMaxRsaBits) {
      return BadKey("RSA modulus must be 2048 to 8192 bits");
    }
    if (!BN_is_odd(e.get()) || BN_is_one(e.get())) return BadKey("RSA exponent is not valid");
    if (OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
      return Internal("OSSL_PARAM_BLD_push_BN failed");
    }
    type = "RSA";
    alg = JwsAlgorithm::kRs256;
  } else if (kty == "EC") {
    const boost::json::value* crv = jwk.if_contains("crv");
    if (crv == nullptr || !crv->is_string() || crv->as_string() != "P-256") {
      return BadKey("EC JWK is not on P-256");
    }
    auto x = JwkBytes(jwk, "x");
    if (!x.ok()) return std::move(x).error();
    auto y = JwkBytes(jwk, "y");
    if (!y.ok()) return std::move(y).error();
    // RFC 7518 section 6.2.1.2: each coordinate is the full 32 bytes for P-256.
    if (x->size() != kP256CoordinateSize || y->size() != kP256CoordinateSize) {
      return BadKey("P-256 JWK coordinate is not 32 bytes");
    }
    point.push_back(0x04);  // Uncompressed point (SEC 1 section 2.3.3).
    point.insert(point.end(), x->begin(), x->end());
    point.insert(point.end(), y->begin(), y->end());
    if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
            1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
      return Internal("OSSL_PARAM_BLD_push failed");
    }
    type = "EC";
    alg = JwsAlgorithm::kEs256;
  } else if (kty == "oct") {
    return BadKey("a symmetric JWK is never accepted from a key set");
  } else {
    return BadKey("JWK kty is not RSA, EC or OKP");
  }

  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    // OpenSSL checks an EC point against the curve as it imports it.
    return BadKey(alg == JwsAlgorithm::kEs256 ? "P-256 JWK point is not on the curve"
                                              : "RSA JWK is not a valid public key");
  }
  if (alg == JwsAlgorithm::kEs256) {
    // A point off the curve would make ECDSA verification meaningless; checked again here
    // so that the guarantee does not rest on the import alone.
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) {
      ERR_clear_error();
      EVP_PKEY_free(pkey);
      return BadKey("P-256 JWK point is not on the curve");
    }
  }
  return std::pair{pkey, alg};
}

Result<SigningKey> LoadPem(const std::string& path, std::string kid, bool is_private);

}  // namespace

std::string_view JwsAlgorithmName(JwsAlgorithm alg) {
  switch (alg) {
    case JwsAlgorithm::kHs256:
      return "HS256";
    case JwsAlgorithm::kEs256:
      return "ES256";
    case JwsAlgorithm::kEdDsa:
      return "EdDSA";
    case JwsAlgorithm::kRs256:
      return "RS256";
  }
  return "";
}

std::optional<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name) {
  if (name == "HS256") return JwsAlgorithm::kHs256;
  if (name == "RS256") return JwsAlgorithm::kRs256;
  if (name == "ES256") return JwsAlgorithm::kEs256;
  if (name == "EdDSA") return JwsAlgorithm::kEdDsa;
  return std::nullopt;
}

bool IsValidKid(std::string_view kid) {
  if (kid.empty() || kid.size() > kMaxKidSize) return false;
  for (const char c : kid) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void SigningKey::PkeyFree::operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }

SigningKey::SigningKey(std::string kid, JwsAlgorithm alg) : kid_(std::move(kid)), alg_(alg) {}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

Result<SigningKey> SigningKey::FromHmacSecret(std::string kid, const Secret& secret) {
  if (!IsValidKid(kid)) return BadKey("HS256 key needs a kid of 1-128 [A-Za-z0-9._-]");
  // RFC 7518 section 3.2: the key must be at least as long as the hash output.
  if (secret.size() < kMinHmacSecretSize) return BadKey("HS256 secret shorter than 32 bytes");
  SigningKey key(std::move(kid), JwsAlgorithm::kHs256);
  key.hmac_.emplace(secret.bytes());
  key.can_sign_ = true;
  return key;
}

Result<SigningKey> SigningKey::FromPkey(PkeyPtr pkey, bool is_private, std::string kid) {
  auto alg = AlgorithmOf(pkey.get());
  if (!alg.ok()) return std::move(alg).error();
  SigningKey key({}, *alg);
  key.pkey_ = std::move(pkey);
  key.can_sign_ = is_private;

  // Building the JWK now proves the public part is there and well-formed.
  auto thumbprint = key.Thumbprint();
  if (!thumbprint) return BadKey("key has no usable public part");
  if (kid.empty()) kid = std::move(*thumbprint);
  if (!IsValidKid(kid)) return BadKey("kid must be 1-128 characters from [A-Za-z0-9._-]");
  key.kid_ = std::move(kid);
  return key;
}

Result<SigningKey> SigningKey::FromPublicJwk(const boost::json::object& jwk) {
  const boost::json::value* kty = jwk.if_contains("kty");
  if (kty == nullptr || !kty->is_string()) return BadKey("JWK kty missing");
  auto made = PublicPkeyFromJwk(jwk, kty->as_string());
  if (!made.ok()) return std::move(made).error();
  PkeyPtr pkey(made->first);
  const JwsAlgorithm alg = made->second;

  // RFC 7517 section 4.4: a key's alg, when given, is the only algorithm it is used with.
  if (const boost::json::value* named = jwk.if_contains("alg")) {
    if (!named->is_string() || named->as_string() != JwsAlgorithmName(alg)) {
      return BadKey("JWK alg does not match its key type");
    }
  }
  // Section 4.2: an encryption key must not verify signatures.
  if (const boost::json::value* use = jwk.if_contains("use")) {
    if (!use->is_string() || use->as_string() != "sig") return BadKey("JWK use is not sig");
  }
  std::string kid;
  if (const boost::json::value* named = jwk.if_contains("kid")) {
    if (!named->is_string() || !IsValidKid(named->as_string())) {
      return BadKey("JWK kid must be 1-128 characters from [A-Za-z0-9._-]");
    }
    kid = std::string(named->as_string());
  }

  SigningKey key({}, alg);
  key.pkey_ = std::move(pkey);
  key.can_sign_ = false;
  auto thumbprint = key.Thumbprint();
  if (!thumbprint) return BadKey("key has no usable public part");
  key.kid_ = kid.empty() ? std::move(*thumbprint) : std::move(kid);
  return key;
}

Result<SigningKey> SigningKey::GenerateEd25519(std::string kid) {
  PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!pkey) return Internal("Ed25519 key generation failed");
  return FromPkey(std::move(pkey), true, std::move(kid));
}

Result<SigningKey> SigningKey::GenerateEs256(std::string kid) {
  PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!pkey) return Internal("P-256 key generation failed");
  return FromPkey(std::move(pkey), true, std::move(kid));
}

Result<SigningKey> SigningKey::FromPrivateKeyPem(const Secret& pem, std::string kid) {
  auto body = PemBody::Read(pem.reveal(), "PRIVATE KEY", /*wipe=*/true);
  if (!body.ok()) return std::move(body).error();

  const unsigned char* in = body->data();
  PKCS8_PRIV_KEY_INFO* info = d2i_PKCS8_PRIV_KEY_INFO(nullptr, &in, body->size());
  const bool whole = info != nullptr && in == body->data() + body->size();
  PkeyPtr pkey(whole ? EVP_PKCS82PKEY(info) : nullptr);
  PKCS8_PRIV_KEY_INFO_free(info);
  ERR_clear_error();  // Leave no decoder errors behind for unrelated OpenSSL users.
  if (!pkey) return BadKey("PRIVATE KEY block is not a valid PKCS#8 key");
  return FromPkey(std::move(pkey), true, std::move(kid));
}

Result<SigningKey> SigningKey::FromPublicKeyPem(std::string_view pem, std::string kid) {
  auto body = PemBody::Read(pem, "PUBLIC KEY", /*wipe=*/false);
  if (!body.ok()) return std::move(body).error();

  const unsigned char* in = body->data();
  PkeyPtr pkey(d2i_PUBKEY(nullptr, &in, body->size()));
  ERR_clear_error();
  if (!pkey || in != body->data() + body->size()) {
    return BadKey("PUBLIC KEY block is not a valid SubjectPublicKeyInfo");
  }
  return FromPkey(std::move(pkey), false, std::move(kid));
}

namespace {
Result<SigningKey> LoadPem(const std::string& path, std::string kid, bool is_private) {
  auto text = ReadSmallFile(path, is_private ? "private key" : "public key");
  if (!text.ok()) return std::move(text).error();
  if (!is_private) return SigningKey::FromPublicKeyPem(*text, std::move(kid));
  const Secret pem(*text);
  SecureWipe(*text);
  return SigningKey::FromPrivateKeyPem(pem, std::move(kid));
}
}  // namespace

Result<SigningKey> SigningKey::LoadPrivateKeyPemFile(const std::string& path, std::string kid) {
  return LoadPem(path, std::move(kid), true);
}

Result<SigningKey> SigningKey::LoadPublicKeyPemFile(const std::string& path, std::string kid) {
  return LoadPem(path, std::move(kid), false);
}

std::optional<std::string> SigningKey::Thumbprint() const {
  // RFC 7638 section 3.2: only the required members, in lexicographic order, no
  // whitespace. Base64url values need no JSON escaping.
  std::string canonical;
  if (alg_ == JwsAlgorithm::kEs256) {
    auto x = EcCoordinate(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X);
    auto y = EcCoordinate(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
    if (!x.ok() || !y.ok()) return std::nullopt;
    canonical = R"({"crv":"P-256","kty":"EC","x":")" + Base64UrlEncode(*x) + R"(","y":")" +
                Base64UrlEncode(*y) + R"("})";
  } else if (alg_ == JwsAlgorithm::kEdDsa) {
    // RFC 8037 section 2: the OKP members are crv, kty, x.
    std::array<std::uint8_t, 32> x;
    std::size_t size = x.size();
    if (EVP_PKEY_get_raw_public_key(pkey_.get(), x.data(), &size) != 1 || size != x.size()) {
      return std::nullopt;
    }
    canonical = R"({"crv":"Ed25519","kty":"OKP","x":")" + Base64UrlEncode(x) + R"("})";
  } else if (alg_ == JwsAlgorithm::kRs256) {
    auto n = RsaMember(OSSL_PKEY_PARAM_RSA_N);
    auto e = RsaMember(OSSL_PKEY_PARAM_RSA_E);
    if (!n || !e) return std::nullopt;
    canonical = R"({"e":")" + *e + R"(","kty":"RSA","n":")" + *n + R"("})";
  } else {
    return std::nullopt;
  }
  return Base64UrlEncode(Sha256(canonical));
}

std::optional<boost::json::object> SigningKey::PublicJwk() const {
  boost::json::object jwk;
  if (alg_ == JwsAlgorithm::kEs256) {
    auto x = EcCoordinate(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X);
    auto y = EcCoordinate(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
    if (!x.ok() || !y.ok()) return std::nullopt;
    jwk["kty"] = "EC";
    jwk["crv"] = "P-256";
    jwk["x"] = Base64UrlEncode(*x);
    jwk["y"] = Base64UrlEncode(*y);
  } else if (alg_ == JwsAlgorithm::kEdDsa) {
    std::array<std::uint8_t, 32> x;
    std::size_t size = x.size();
    if (EVP_PKEY_get_raw_public_key(pkey_.get(), x.data(), &size) != 1 || size != x.size()) {
      return std::nullopt;
    }
    jwk["kty"] = "OKP";
    jwk["crv"] = "Ed25519";
    jwk["x"] = Base64UrlEncode(x);
  } else if (alg_ == JwsAlgorithm::kRs256) {
    auto n = RsaMember(OSSL_PKEY_PARAM_RSA_N);
    auto e = RsaMember(OSSL_PKEY_PARAM_RSA_E);
    if (!n || !e) return std::nullopt;
    jwk["kty"] = "RSA";
    jwk["n"] = *n;
    jwk["e"] = *e;
  } else {
    // HS256: the secret is the key; publishing it would hand out the signing power.
    return std::nullopt;
  }
  jwk["kid"] = kid_;
  jwk["alg"] = JwsAlgorithmName(alg_);
  jwk["use"] = "sig";
  return jwk;
}

Result<Secret> SigningKey::PrivateKeyPem() const {
  if (!pkey_ || !can_sign_) {
    return Error(ErrorCode::kFailedPrecondition, "no private key", "not an asymmetric private key");
  }
  // A secure-memory BIO cleanses its buffer when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    return Internal("PEM_write_bio_PrivateKey failed");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return Secret(std::string_view(data, static_cast<std::size_t>(size)));
}

Result<std::string> SigningKey::PublicKeyPem() const {
  if (!pkey_) return Error(ErrorCode::kFailedPrecondition, "no public key", "HS256 key");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) {
    return Internal("PEM_write_bio_PUBKEY failed");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

Result<std::vector<std::uint8_t>> SigningKey::Sign(std::string_view signing_input) const {
  if (!can_sign_) {
    return Error(ErrorCode::kFailedPrecondition, "cannot sign", "key is public only");
  }
  if (alg_ == JwsAlgorithm::kHs256) {
    const Sha256Digest mac = hmac_->Compute(signing_input);
    return std::vector<std::uint8_t>(mac.begin(), mac.end());
  }

  MdCtxPtr ctx(EVP_MD_CTX_new());
  // Ed25519 hashes internally (RFC 8032), so it takes no digest name.
  const char* digest = alg_ == JwsAlgorithm::kEs256 ? "SHA256" : nullptr;
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, pkey_.get(),
                                    nullptr) != 1) {
    return Internal("EVP_DigestSignInit_ex failed");
  }
  std::size_t size = 0;
  const auto input = AsBytes(signing_input);
  if (EVP_DigestSign(ctx.get(), nullptr, &size, input.data(), input.size()) != 1) {
    return Internal("EVP_DigestSign (size) failed");
  }
  std::vector<std::uint8_t> signature(size);
  if (EVP_DigestSign(ctx.get(), signature.data(), &size, input.data(), input.size()) != 1) {
    return Internal("EVP_DigestSign failed");
  }
  signature.resize(size);
  if (alg_ == JwsAlgorithm::kEs256) return DerToLowSRaw(signature);
  return signature;
}

std::optional<std::string> SigningKey::RsaMember(const char* param) const {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey_.get(), param, &raw) != 1) return std::nullopt;
  BnPtr bn(raw);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(BN_num_bytes(bn.get())));
  BN_bn2bin(bn.get(), bytes.data());
  return Base64UrlEncode(bytes);
}

std::size_t SigningKey::SignatureSize() const {
  switch (alg_) {
    case JwsAlgorithm::kHs256:
      return kHs256SignatureSize;
    case JwsAlgorithm::kEs256:
      return kEs256SignatureSize;
    case JwsAlgorithm::kEdDsa:
      return kEdDsaSignatureSize;
    case JwsAlgorithm::kRs256:
      // RFC 8017 section 8.2.2 step 1: the signature is exactly as long as the modulus.
      return static_cast<std::size_t>(EVP_PKEY_get_size(pkey_.get()));
  }
  return 0;
}

Status SigningKey::VerifySignature(std::string_view signing_input,
                                   std::span<const std::uint8_t> signature,
                                   bool ecdsa_low_s_only) const {
  // Each algorithm has exactly one signature length (RFC 7518 sections 3.2 and 3.4, RFC
  // 8037 section 3.1). Checking it first refuses DER-encoded ECDSA signatures, truncated
  // MACs and padding games before any cryptography runs.
  if (signature.size() != SignatureSize()) return InvalidToken("signature length");

  if (alg_ == JwsAlgorithm::kHs256) {
    // Constant-time comparison inside: a timing oracle would let an attacker build a
    // valid MAC byte by byte.
    if (!hmac_->Verify(signing_input, signature)) return InvalidToken("signature mismatch");
    return Ok();
  }

  std::vector<std::uint8_t> der;
  std::span<const std::uint8_t> to_check = signature;
  const char* digest = nullptr;
  if (alg_ == JwsAlgorithm::kEs256) {
    if (ecdsa_low_s_only &&
        std::memcmp(signature.data() + kP256CoordinateSize, kP256HalfOrder.data(), 32) > 0) {
      return InvalidToken("ecdsa signature has high s");
    }
    // OpenSSL verifies DER; the JOSE form is the two 32-byte integers side by side.
    der = RawToDer(signature);
    if (der.empty()) return Internal("ES256: cannot encode signature");
    to_check = der;
    digest = "SHA256";
  } else if (alg_ == JwsAlgorithm::kRs256) {
    // EVP's default RSA padding for verification is PKCS#1 v1.5, which RS256 is.
    digest = "SHA256";
  }

  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, pkey_.get(),
                                      nullptr) != 1) {
    return Internal("EVP_DigestVerifyInit_ex failed");
  }
  const auto input = AsBytes(signing_input);
  if (EVP_DigestVerify(ctx.get(), to_check.data(), to_check.size(), input.data(), input.size()) !=
      1) {
    ERR_clear_error();
    return InvalidToken("signature mismatch");
  }
  return Ok();
}

}  // namespace gatehouse::crypto
