#pragma once

// A shared library opened on first use instead of at exec time, for dependencies that only
// some configurations need: libcurl (outbound HTTPS: SMS, later OIDC and webhooks) and libpq
// (the PostgreSQL store). Linked the usual way, those two and what they pull in (GnuTLS via
// libldap and librtmp, Kerberos, SASL, p11-kit, nghttp2, libssh2, ...) are mapped and
// initialised in every process, GnuTLS's constructor included: about 4 MiB of resident memory
// in a server that uses SQLite and sends nothing. Opened lazily, they cost only where used.
//
// The calling code keeps its usual calls: http/curl_lazy.cc and store/postgres/libpq_lazy.cc
// define the few library functions Gatehouse calls, with hidden visibility (so nothing else
// in the process can bind to them), and each forwards to the real function, resolved here on
// its first call. A library that cannot be opened makes every forwarded call fail the way the
// library reports "out of resources" (null handles, error codes), which the callers already
// turn into errors; the reason is logged once (event `shared_library_unavailable`).
//
// Thread safety: Symbol() may be called from any thread; the library is opened once.

#include <mutex>
#include <string>

namespace gatehouse::core {

class LazyLibrary {
 public:
  // `soname`: the name the dynamic loader looks for, e.g. "libcurl.so.4". Not copied; a
  // string literal.
  explicit LazyLibrary(const char* soname) : soname_(soname) {}
  LazyLibrary(const LazyLibrary&) = delete;
  LazyLibrary& operator=(const LazyLibrary&) = delete;

  // The address of `name` in the library, opening it first if need be; nullptr when the
  // library cannot be opened or lacks the symbol (logged once per cause).
  void* Symbol(const char* name);

  // Why the library cannot be used, opening it first if need be; empty when it can.
  std::string error();

 private:
  void Open();

  const char* soname_;
  std::once_flag once_;
  void* handle_ = nullptr;  // Written once, under once_.
  std::string error_;       // Written once, under once_.
};

}  // namespace gatehouse::core
