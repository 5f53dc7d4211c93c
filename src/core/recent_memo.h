#pragma once

// A small memo of values recently derived from their input, for one thread: a hot path that
// keeps deriving the same digest from the same bytes (a browser's traits, one client's rate
// limit key) finds it here instead.
//
// An entry answers only for its own input: the whole input is stored and compared, and the
// slot index is merely where to look. Inputs that share a slot evict each other, so an
// input crafted to collide costs its sender a recomputation, never a wrong answer. Inputs
// longer than kMaxInput are not remembered (their comparison would cost what it saves).
//
// Thread safety: none; give each thread its own (thread_local).

#include <array>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace gatehouse {

// `Index` maps an input to any number; its low bits pick the slot. Only the hit rate
// depends on it, never the answers.
template <typename Value, std::size_t kSlots, std::size_t kMaxInput,
          typename Index = std::hash<std::string_view>>
class RecentMemo {
  static_assert(kSlots > 0 && (kSlots & (kSlots - 1)) == 0, "kSlots must be a power of two");

 public:
  // The value remembered for exactly `input`, or null.
  const Value* Find(std::string_view input) const {
    const Entry& e = entries_[Slot(input)];
    return e.used && e.input == input ? &e.value : nullptr;
  }

  void Remember(std::string_view input, const Value& value) {
    if (input.size() > kMaxInput) return;
    Entry& e = entries_[Slot(input)];
    e.input.assign(input);  // Reuses the entry's buffer once it has grown.
    e.value = value;
    e.used = true;
  }

 private:
  struct Entry {
    std::string input;
    Value value{};
    bool used = false;  // An empty input is a valid one, so emptiness cannot mark a free slot.
  };

  static std::size_t Slot(std::string_view input) {
    return static_cast<std::size_t>(Index{}(input)) & (kSlots - 1);
  }

  std::array<Entry, kSlots> entries_;
};

}  // namespace gatehouse
