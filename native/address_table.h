// An open-addressing map from block address to record, for the binding's hot
// path: no allocation per entry (std::unordered_map allocates a node per insert,
// which measured as a tenth of Block alloc+free). Linear probing with
// backward-shift deletion, so there are no tombstones. Single-threaded: each
// environment owns one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sysalloc {

template <typename Value>
class AddressTable {
 public:
  AddressTable() : slots_(kInitialCapacity) {}

  // Precondition: key is not null and not present.
  void Insert(void* key, Value* value) {
    if ((count_ + 1) * 4 > slots_.size() * 3) Grow();
    Place(key, value);
    ++count_;
  }

  Value* Find(void* key) const {
    if (key == nullptr) return nullptr;
    for (size_t i = Home(key);; i = Next(i)) {
      if (slots_[i].key == key) return slots_[i].value;
      if (slots_[i].key == nullptr) return nullptr;
    }
  }

  void Erase(void* key) {
    size_t hole = Home(key);
    while (slots_[hole].key != key) {
      if (slots_[hole].key == nullptr) return;
      hole = Next(hole);
    }
    // Shift later members of the probe run back over the hole.
    for (size_t i = Next(hole); slots_[i].key != nullptr; i = Next(i)) {
      const size_t home = Home(slots_[i].key);
      const bool movable = hole <= i ? (home <= hole || home > i) : (home <= hole && home > i);
      if (movable) {
        slots_[hole] = slots_[i];
        hole = i;
      }
    }
    slots_[hole] = Slot{};
    --count_;
  }

  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const Slot& s : slots_) {
      if (s.key != nullptr) fn(s.value);
    }
  }

  void Clear() {
    slots_.assign(kInitialCapacity, Slot{});
    count_ = 0;
  }

  size_t size() const { return count_; }

 private:
  struct Slot {
    void* key = nullptr;
    Value* value = nullptr;
  };
  static constexpr size_t kInitialCapacity = 64;  // a power of two

  size_t Home(void* key) const {
    // Fibonacci hashing; block addresses are aligned, so low bits carry nothing.
    const uint64_t h = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(key)) * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h >> 32) & (slots_.size() - 1);
  }
  size_t Next(size_t i) const { return (i + 1) & (slots_.size() - 1); }

  void Place(void* key, Value* value) {
    size_t i = Home(key);
    while (slots_[i].key != nullptr) i = Next(i);
    slots_[i] = Slot{key, value};
  }

  void Grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.key != nullptr) Place(s.key, s.value);
    }
  }

  std::vector<Slot> slots_;
  size_t count_ = 0;
};

}  // namespace sysalloc
