#pragma once

// Ends the process when OpenSSL fails in a way that only lack of memory or a
// broken installation can cause (for example a digest context that cannot be
// allocated). Such failures have no useful recovery and returning garbage
// digests would be worse. `what` names the operation; it never holds data.

#include <string_view>

namespace gatehouse::crypto {

[[noreturn]] void FatalCryptoFailure(std::string_view what);

}  // namespace gatehouse::crypto
