// The ceiling for password logins on one core: how many argon2id verifications per second
// this machine does with Gatehouse's default parameters (crypto::Argon2Params, the same as
// config/gatehouse.toml's defaults). bench/run.sh runs it pinned to the core the server
// gets and reports POST /v1/auth/login requests/s as a fraction of it.
//
//   argon2_rate [seconds]      (default 5; prints "<verifies per second> <verifies> <seconds>")

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "crypto/password.h"

namespace {

using gatehouse::crypto::Argon2Params;
using gatehouse::crypto::HashPassword;
using gatehouse::crypto::VerifyPassword;
using Clock = std::chrono::steady_clock;

constexpr char kPassword[] = "Bench-Login-Password-1!";

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
  if (!(seconds > 0.0 && seconds <= 600.0)) {
    std::fprintf(stderr, "usage: argon2_rate [seconds in (0, 600]]\n");
    return 2;
  }

  auto encoded = HashPassword(kPassword, Argon2Params{});
  if (!encoded.ok()) {
    std::fprintf(stderr, "argon2_rate: hashing failed: %s (%s)\n",
                 encoded.error().message().c_str(), encoded.error().detail().c_str());
    return 1;
  }

  // Every round must succeed: a false or an error would time something other than a
  // successful login's verification.
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  long verifies = 0;
  Clock::time_point now;
  do {
    auto matched = VerifyPassword(kPassword, *encoded);
    if (!matched.ok() || !*matched) {
      std::fprintf(stderr, "argon2_rate: verification did not succeed\n");
      return 1;
    }
    ++verifies;
    now = Clock::now();
  } while (now < deadline);

  const double elapsed = std::chrono::duration<double>(now - start).count();
  std::printf("%.2f %ld %.3f\n", verifies / elapsed, verifies, elapsed);
  return 0;
}
