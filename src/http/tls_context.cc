#include "http/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <string_view>

namespace gatehouse::http {
namespace {

// TLS 1.2 suites: ECDHE only (forward secrecy), AEAD only (no CBC, no SHA-1 MACs).
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// OpenSSL's TLS 1.3 defaults, written out so a system-wide config cannot narrow or widen them.
constexpr char kTls13Suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr char kGroups[] = "X25519:P-256:P-384";
constexpr unsigned char kSessionIdContext[] = "gatehouse";
constexpr std::string_view kHttp11 = "http/1.1";

// Drains OpenSSL's thread-local error queue into one line for Error::detail().
std::string TakeOpensslErrors() {
  std::string out;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("no OpenSSL reason") : out;
}

Error FileError(std::string_view what, const std::string& file) {
  return InvalidArgument("cannot load TLS " + std::string(what) + " file '" + file + "'",
                         TakeOpensslErrors());
}

// Picks "http/1.1" from the client's ALPN list; anything else ends the handshake with
// no_application_protocol, so a TLS endpoint of another protocol cannot be confused with us.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
               unsigned int in_len, void*) {
  unsigned int pos = 0;
  while (pos < in_len) {
    const unsigned int len = in[pos];
    if (len == 0 || pos + 1 + len > in_len) break;  // Malformed list: refuse.
    if (len == kHttp11.size() && std::memcmp(in + pos + 1, kHttp11.data(), len) == 0) {
      *out = in + pos + 1;
      *out_len = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    pos += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

void SslCtxDeleter::operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }

Result<TlsContext> LoadServerTlsContext(const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  TlsContext ctx(SSL_CTX_new(TLS_server_method()), SslCtxDeleter{});
  if (!ctx) return Internal("SSL_CTX_new failed: " + TakeOpensslErrors());
  SSL_CTX* raw = ctx.get();

  // RFC 8996 deprecates TLS 1.0 and 1.1; SSLv3 is long broken (POODLE).
  if (SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION) != 1) {
    return Internal("cannot set minimum TLS version: " + TakeOpensslErrors());
  }
  if (SSL_CTX_set_cipher_list(raw, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(raw, kTls13Suites) != 1 ||
      SSL_CTX_set1_groups_list(raw, kGroups) != 1) {
    return Internal("cannot set TLS cipher policy: " + TakeOpensslErrors());
  }

  // Compression leaks secrets through lengths (CRIME); renegotiation has a history of
  // injection bugs and costs the server CPU on the client's demand.
  SSL_CTX_set_options(
      raw, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(raw, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  SSL_CTX_set_alpn_select_cb(raw, &SelectAlpn, nullptr);

  // An encrypted key would make OpenSSL prompt on the terminal and block start-up or a
  // reload; refuse it instead.
  SSL_CTX_set_default_passwd_cb(raw, [](char*, int, int, void*) { return 0; });

  if (SSL_CTX_use_certificate_chain_file(raw, cert_file.c_str()) != 1) {
    return FileError("certificate", cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(raw, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return FileError("private key", key_file);
  }
  if (SSL_CTX_check_private_key(raw) != 1) {
    return InvalidArgument("TLS private key file '" + key_file +
                               "' does not match certificate file '" + cert_file + "'",
                           TakeOpensslErrors());
  }
  return ctx;
}

}  // namespace gatehouse::http
