#pragma once

// Time comes in through this interface so that every expiry, lockout and TOTP
// window can be tested by moving a ManualClock instead of sleeping.

#include <atomic>
#include <chrono>

namespace gatehouse {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, for timestamps that leave the process (tokens, logs).
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Monotonic time, for durations and timeouts.
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::now();
  }
  // The process-wide real clock.
  static const Clock& Instance();
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  static constexpr std::chrono::seconds kDefaultStart{1'700'000'000};

  // Starts at 2023-11-14T22:13:20Z unless told otherwise.
  explicit ManualClock(std::chrono::system_clock::time_point start =
                           std::chrono::system_clock::time_point(kDefaultStart))
      : wall_ns_(start.time_since_epoch().count()) {}

  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::system_clock::duration(wall_ns_.load()));
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(steady_ns_.load()));
  }
  void Advance(std::chrono::nanoseconds d) {
    wall_ns_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d).count();
    steady_ns_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d).count();
  }

 private:
  std::atomic<std::chrono::system_clock::rep> wall_ns_;
  std::atomic<std::chrono::steady_clock::rep> steady_ns_{0};
};

}  // namespace gatehouse
