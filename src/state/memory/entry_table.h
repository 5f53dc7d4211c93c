#pragma once

// One shard's hash table for the in-memory state store: open addressing with linear
// probing and backward-shift deletion (no tombstones, so deletions never slow later
// lookups). Each entry is ONE heap block holding its header, key and value; the
// table itself costs a pointer and a one-byte tag per slot, and the tag (7 hash bits)
// lets a lookup skip non-matching slots without touching their entries. This keeps a
// typical rate-limit entry (30-byte key, short counter) near 80 bytes in all; see
// docs/state.md for measured figures.
//
// Hashes come from the owner (a keyed SipHash, so clients cannot pick colliding
// keys); the table uses the low bits for the slot and bits 48..54 for the tag.
//
// Thread safety: none; the owning shard's mutex guards every call.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace gatehouse::state::memory {

struct Entry {
  std::int64_t expires_ns;  // Steady-clock time at which the entry is gone.
  std::uint64_t hash;
  std::uint32_t key_size;
  std::uint32_t value_size;

  std::string_view key() const { return {bytes(), key_size}; }
  std::string_view value() const { return {bytes() + key_size, value_size}; }
  char* mutable_value() { return bytes() + key_size; }

 private:
  char* bytes() const { return const_cast<char*>(reinterpret_cast<const char*>(this + 1)); }
};

struct EntryDeleter {
  void operator()(Entry* entry) const;
};
using EntryPtr = std::unique_ptr<Entry, EntryDeleter>;

// Allocates one block holding the header, `key` and `value`.
// REQUIRES: key and value sizes fit in 32 bits (the store caps them far lower).
EntryPtr MakeEntry(std::uint64_t hash, std::string_view key, std::string_view value,
                   std::int64_t expires_ns);

class EntryTable {
 public:
  EntryTable();

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return slots_.size(); }
  // Heap bytes held by the slot arrays (entries not included).
  std::size_t slot_bytes() const { return slots_.size() * (sizeof(EntryPtr) + 1); }

  // The slot holding `key`, expired or not.
  std::optional<std::size_t> Find(std::uint64_t hash, std::string_view key) const;

  Entry& at(std::size_t slot) { return *slots_[slot]; }

  // REQUIRES: no entry with the same key is present.
  void Insert(EntryPtr entry);
  // Puts `entry` (same key) in place of the one at `slot`.
  void Replace(std::size_t slot, EntryPtr entry) { slots_[slot] = std::move(entry); }
  void Erase(std::size_t slot);

  // Examines up to `max_slots` slots from `*cursor` on, erasing entries whose expiry is
  // at or before `now_ns`; advances the cursor (wrapping). Returns the number erased.
  std::size_t SweepExpired(std::int64_t now_ns, std::size_t max_slots, std::size_t* cursor);

  // Halves the slot arrays while they are mostly empty, so a burst of keys does not
  // pin its peak memory forever. Invalidates slot numbers (not entries).
  void MaybeShrink();

 private:
  std::size_t Home(std::uint64_t hash) const { return hash & (slots_.size() - 1); }
  static std::uint8_t Tag(std::uint64_t hash) {
    return static_cast<std::uint8_t>(0x80 | ((hash >> 48) & 0x7f));
  }
  void Rehash(std::size_t new_capacity);
  void Place(EntryPtr entry);

  std::vector<EntryPtr> slots_;
  std::vector<std::uint8_t> tags_;  // 0: empty; otherwise Tag(hash) of the slot's entry.
  std::size_t size_ = 0;
};

}  // namespace gatehouse::state::memory
