#pragma once

// The server's TLS policy, expressed once as an OpenSSL SSL_CTX. This header pulls in no
// Asio or OpenSSL headers; the server wraps each accepted socket in an SSL object made
// from the context current at accept time.
//
// Policy (RFC 9325, "Recommendations for Secure Use of TLS and DTLS"):
// - TLS 1.2 is the minimum; SSLv3, TLS 1.0 and 1.1 are refused (RFC 8996).
// - TLS 1.2 suites are forward-secret ECDHE with AEAD only: AES-GCM and ChaCha20-Poly1305
//   with ECDSA or RSA certificates. TLS 1.3 keeps OpenSSL's default AEAD suites.
// - The server's suite order wins, compression is off (CRIME), renegotiation is off.
// - Session tickets stay on: resumption is cheap and TLS 1.3 tickets are forward secret.
// - ALPN: only "http/1.1" is selected; a client that offers ALPN without it is refused
//   (RFC 7301 §3.2), which closes the cross-protocol (ALPACA) door.

#include <memory>
#include <string>

#include "core/status.h"

typedef struct ssl_ctx_st SSL_CTX;  // NOLINT: matches OpenSSL's own declaration.

namespace gatehouse::http {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const;
};

// Immutable once built; share it across threads freely. OpenSSL reference-counts it, so an
// SSL object made from it stays valid after the last TlsContext is gone.
using TlsContext = std::shared_ptr<SSL_CTX>;

// Builds a server context from PEM files. `cert_file` holds the leaf certificate followed by
// any intermediates (a chain file); `key_file` holds the matching private key, unencrypted.
// Errors are kInvalidArgument and name the file that failed; the OpenSSL reason goes to
// detail(). Never includes key material. Thread-safe.
Result<TlsContext> LoadServerTlsContext(const std::string& cert_file, const std::string& key_file);

}  // namespace gatehouse::http
