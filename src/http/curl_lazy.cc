// The libcurl functions Gatehouse calls, forwarded to libcurl opened on first use (see
// core/lazy_library.h for why: libcurl's dependency tree costs megabytes of resident memory
// in every process, also where nothing is ever sent). The binary does not link libcurl;
// http/outbound_client.cc calls these as it would call libcurl.
//
// Only what outbound_client.cc uses is here. Code that calls another libcurl function gets
// an undefined-symbol error at link time: add a forwarder for it below.
//
// Hidden visibility keeps these out of the process's dynamic symbol table, so libcurl's own
// internal calls can never bind to them.

// This file defines the functions the type-checking macros would wrap.
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include <cstdarg>

#include "core/lazy_library.h"

namespace {

gatehouse::core::LazyLibrary& Curl() {
  static gatehouse::core::LazyLibrary library("libcurl.so.4");
  return library;
}

// The real function `name`, resolved once; nullptr when libcurl cannot be loaded.
template <typename Fn>
Fn* Real(const char* name) {
  return reinterpret_cast<Fn*>(Curl().Symbol(name));
}

constexpr const char* kUnavailable = "libcurl could not be loaded";

}  // namespace

#pragma GCC visibility push(hidden)

extern "C" {

CURLcode curl_global_init(long flags) {
  static auto* const real = Real<CURLcode(long)>("curl_global_init");
  return real != nullptr ? real(flags) : CURLE_FAILED_INIT;
}

CURL* curl_easy_init(void) {
  static auto* const real = Real<CURL*()>("curl_easy_init");
  return real != nullptr ? real() : nullptr;
}

void curl_easy_cleanup(CURL* handle) {
  static auto* const real = Real<void(CURL*)>("curl_easy_cleanup");
  // A handle exists only if curl_easy_init worked, so `real` is there whenever it matters.
  if (real != nullptr) real(handle);
}

CURLcode curl_easy_setopt(CURL* handle, CURLoption option, ...) {
  static auto* const real = Real<CURLcode(CURL*, CURLoption, ...)>("curl_easy_setopt");
  if (real == nullptr) return CURLE_FAILED_INIT;
  // The one variadic argument is passed on with the type its option's number range gives it
  // (curl/curl.h, CURLOPTTYPE_*), as libcurl itself reads it.
  va_list args;
  va_start(args, option);
  CURLcode result;
  if (option < CURLOPTTYPE_OBJECTPOINT) {
    result = real(handle, option, va_arg(args, long));
  } else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB) {
    result = real(handle, option, va_arg(args, curl_off_t));
  } else {
    // Object, string, list, callback-data, function and blob pointers.
    result = real(handle, option, va_arg(args, void*));
  }
  va_end(args);
  return result;
}

CURLcode curl_easy_getinfo(CURL* handle, CURLINFO info, ...) {
  static auto* const real = Real<CURLcode(CURL*, CURLINFO, ...)>("curl_easy_getinfo");
  if (real == nullptr) return CURLE_FAILED_INIT;
  // Every CURLINFO takes a pointer to where the answer goes.
  va_list args;
  va_start(args, info);
  const CURLcode result = real(handle, info, va_arg(args, void*));
  va_end(args);
  return result;
}

CURLcode curl_easy_perform(CURL* handle) {
  static auto* const real = Real<CURLcode(CURL*)>("curl_easy_perform");
  return real != nullptr ? real(handle) : CURLE_FAILED_INIT;
}

const char* curl_easy_strerror(CURLcode code) {
  static auto* const real = Real<const char*(CURLcode)>("curl_easy_strerror");
  return real != nullptr ? real(code) : kUnavailable;
}

curl_slist* curl_slist_append(curl_slist* list, const char* text) {
  static auto* const real = Real<curl_slist*(curl_slist*, const char*)>("curl_slist_append");
  return real != nullptr ? real(list, text) : nullptr;
}

void curl_slist_free_all(curl_slist* list) {
  static auto* const real = Real<void(curl_slist*)>("curl_slist_free_all");
  // A non-empty list exists only if curl_slist_append worked.
  if (real != nullptr) real(list);
}

}  // extern "C"

#pragma GCC visibility pop
