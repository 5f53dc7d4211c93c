#include "state/memory/entry_table.h"

#include <new>
#include <utility>

namespace gatehouse::state::memory {
namespace {

constexpr std::size_t kMinCapacity = 8;

// Grow past 3/4 full: linear probing stays short up to there.
bool OverLoaded(std::size_t size, std::size_t capacity) { return size * 4 > capacity * 3; }

}  // namespace

void EntryDeleter::operator()(Entry* entry) const {
  // Entry is trivially destructible; the block came from ::operator new below.
  ::operator delete(static_cast<void*>(entry));
}

EntryPtr MakeEntry(std::uint64_t hash, std::string_view key, std::string_view value,
                   std::int64_t expires_ns) {
  void* block = ::operator new(sizeof(Entry) + key.size() + value.size());
  auto* entry = new (block) Entry{expires_ns, hash, static_cast<std::uint32_t>(key.size()),
                                  static_cast<std::uint32_t>(value.size())};
  char* bytes = reinterpret_cast<char*>(entry + 1);
  if (!key.empty()) std::memcpy(bytes, key.data(), key.size());
  if (!value.empty()) std::memcpy(bytes + key.size(), value.data(), value.size());
  return EntryPtr(entry);
}

EntryTable::EntryTable() : slots_(kMinCapacity), tags_(kMinCapacity, 0) {}

std::optional<std::size_t> EntryTable::Find(std::uint64_t hash, std::string_view key) const {
  const std::size_t mask = slots_.size() - 1;
  const std::uint8_t tag = Tag(hash);
  // The load factor stays below 1, so an empty slot always ends the probe.
  for (std::size_t i = Home(hash);; i = (i + 1) & mask) {
    if (tags_[i] == 0) return std::nullopt;
    if (tags_[i] != tag) continue;
    const Entry& entry = *slots_[i];
    if (entry.hash == hash && entry.key() == key) return i;
  }
}

void EntryTable::Insert(EntryPtr entry) {
  if (OverLoaded(size_ + 1, slots_.size())) Rehash(slots_.size() * 2);
  Place(std::move(entry));
  ++size_;
}

void EntryTable::Place(EntryPtr entry) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = Home(entry->hash);
  while (tags_[i] != 0) i = (i + 1) & mask;
  tags_[i] = Tag(entry->hash);
  slots_[i] = std::move(entry);
}

void EntryTable::Erase(std::size_t slot) {
  const std::size_t mask = slots_.size() - 1;
  slots_[slot].reset();
  tags_[slot] = 0;
  --size_;

  // Backward shift: pull later entries of the same probe run into the hole, so that
  // Find never stops early at a slot that was emptied under it.
  std::size_t hole = slot;
  for (std::size_t j = (hole + 1) & mask; tags_[j] != 0; j = (j + 1) & mask) {
    const std::size_t home = Home(slots_[j]->hash);
    // The entry at j may stay if its home lies cyclically in (hole, j].
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    slots_[hole] = std::move(slots_[j]);
    tags_[hole] = tags_[j];
    tags_[j] = 0;
    hole = j;
  }
}

std::size_t EntryTable::SweepExpired(std::int64_t now_ns, std::size_t max_slots,
                                     std::size_t* cursor) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t erased = 0;
  std::size_t i = *cursor & mask;
  for (std::size_t examined = 0; examined < max_slots && size_ > 0; ++examined) {
    if (tags_[i] != 0 && slots_[i]->expires_ns <= now_ns) {
      // Erase may shift a later entry into slot i; look at i again next round.
      Erase(i);
      ++erased;
      continue;
    }
    i = (i + 1) & mask;
  }
  *cursor = i;
  return erased;
}

void EntryTable::MaybeShrink() {
  std::size_t target = slots_.size();
  while (target > kMinCapacity && size_ * 8 < target) target /= 2;
  // Leave room to grow again before the next doubling: at most half full.
  while (size_ * 2 > target) target *= 2;
  if (target < slots_.size()) Rehash(target);
}

void EntryTable::Rehash(std::size_t new_capacity) {
  std::vector<EntryPtr> old_slots(new_capacity);
  std::vector<std::uint8_t> old_tags(new_capacity, 0);
  old_slots.swap(slots_);
  old_tags.swap(tags_);
  for (std::size_t i = 0; i < old_slots.size(); ++i) {
    if (old_tags[i] != 0) Place(std::move(old_slots[i]));
  }
}

}  // namespace gatehouse::state::memory
