#pragma once

// Request ids tie a client's report, the access log and the audit trail together.
//
// Ids are unique, not secret: they appear in responses and logs and must never be used as
// tokens or nonces. Generated ids are 32 lowercase hex characters: a random 64-bit prefix
// drawn per thread from OpenSSL's CSPRNG, then a per-thread 64-bit counter. Two threads
// collide only if their prefixes do (about 2^-64 per pair). A process that forks after
// generating ids would repeat the parent's sequence in the child; the server does not fork.
//
// Thread safety: safe from any thread; the generator state is thread-local.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::http {

inline constexpr std::size_t kMaxRequestIdLength = 128;

// True when a client-sent id is 1..128 characters of [A-Za-z0-9._:-]. Anything else could
// carry CR/LF or quotes into log lines and header echoes.
bool IsAcceptableRequestId(std::string_view id);

// The client's X-Request-Id when acceptable, else a freshly generated id. An unacceptable
// one is replaced, not cleaned up, so a partly attacker-chosen id never reaches the logs.
std::string AcceptOrGenerateRequestId(std::optional<std::string_view> header);

// A fresh id, as described above.
std::string GenerateRequestId();

// The same, written over `out` so that a caller reusing one string per connection keeps its
// capacity and the request path allocates nothing.
void GenerateRequestIdInto(std::string& out);

}  // namespace gatehouse::http
