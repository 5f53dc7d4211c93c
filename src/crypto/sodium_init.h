#pragma once

// libsodium must be initialised once before any of its functions run.

namespace gatehouse::crypto {

// Initialises libsodium on first call; later calls cost one check of a static.
// Thread-safe. Aborts the process if libsodium cannot start (it only fails when
// the operating system's random source is unusable; see random.h for why that
// is fatal).
void EnsureSodiumInitialized();

}  // namespace gatehouse::crypto
