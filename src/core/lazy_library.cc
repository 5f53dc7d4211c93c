#include "core/lazy_library.h"

#include <dlfcn.h>

#include "core/log.h"

namespace gatehouse::core {

void LazyLibrary::Open() {
  std::call_once(once_, [this] {
    // RTLD_NOW: a library whose symbols do not resolve fails here, once, not in the middle of
    // a call. RTLD_LOCAL: its symbols do not become visible to later loads.
    handle_ = dlopen(soname_, RTLD_NOW | RTLD_LOCAL);
    if (handle_ != nullptr) return;
    const char* why = dlerror();
    error_ = why != nullptr ? why : "dlopen failed";
    log::Event(log::Level::kError, "shared_library_unavailable",
               {log::Field("library", soname_), log::Field("detail", error_)});
  });
}

void* LazyLibrary::Symbol(const char* name) {
  Open();
  if (handle_ == nullptr) return nullptr;
  void* symbol = dlsym(handle_, name);
  if (symbol == nullptr) {
    // Each forwarder asks once and keeps the answer, so this logs once per missing symbol.
    log::Event(log::Level::kError, "shared_library_symbol_missing",
               {log::Field("library", soname_), log::Field("symbol", name)});
  }
  return symbol;
}

std::string LazyLibrary::error() {
  Open();
  return error_;
}

}  // namespace gatehouse::core
