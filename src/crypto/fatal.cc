#include "crypto/fatal.h"

#include <openssl/err.h>

#include <cstdio>
#include <cstdlib>

namespace gatehouse::crypto {

void FatalCryptoFailure(std::string_view what) {
  std::fprintf(stderr, "gatehouse: fatal: OpenSSL failed in %.*s (error %lu)\n",
               static_cast<int>(what.size()), what.data(), ERR_peek_last_error());
  std::abort();
}

}  // namespace gatehouse::crypto
