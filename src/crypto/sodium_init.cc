#include "crypto/sodium_init.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

namespace gatehouse::crypto {

void EnsureSodiumInitialized() {
  // A function-local static is initialised exactly once even under concurrent
  // first calls (C++11 [stmt.dcl]/4); sodium_init() itself is also idempotent.
  static const bool initialised = sodium_init() >= 0;
  if (!initialised) {
    std::fputs("gatehouse: fatal: libsodium could not initialise its random source\n", stderr);
    std::abort();
  }
}

}  // namespace gatehouse::crypto
