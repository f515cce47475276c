// The one policy for memory given back but kept committed for quick reuse:
// blocks.cc keeps released large regions, the shim keeps released spans, both
// in a ReleasedCache under these bounds. docs/design.md ("Released memory")
// gives the reasons for the numbers. Not thread-safe: each owner locks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sysalloc {

struct CachePolicy {
  static constexpr size_t kEntries = 16;               // most entries kept
  static constexpr size_t kBytes = size_t{64} << 20;   // most bytes kept
  static constexpr size_t kLargest = kBytes / 4;       // largest entry kept
};

// Entries oldest first; Take searches newest first. Entry is a small value type
// with a member `size_t Bytes() const`. Capacity is the most entries the cache
// can ever hold; SetLimits lowers the bounds in force (CachePolicy's by default).
template <typename Entry, size_t Capacity = CachePolicy::kEntries>
class ReleasedCache {
 public:
  static constexpr size_t kCapacity = Capacity;

  // Whether an entry of this many bytes is ever kept under the default policy.
  static bool Admits(size_t bytes) { return bytes <= CachePolicy::kLargest; }

  // The bounds in force: at most entries (1..Capacity) entries and bytes bytes.
  void SetLimits(size_t entries, size_t bytes) {
    max_entries_ = entries < 1 ? 1 : entries > Capacity ? Capacity : entries;
    max_bytes_ = bytes;
  }
  size_t max_entries() const { return max_entries_; }
  size_t max_bytes() const { return max_bytes_; }

  // Keeps entry, first evicting the oldest entries until it fits; the evicted
  // ones go to evicted[] (room for Capacity), for the caller to give back to
  // the OS outside its lock. Returns how many. Precondition: entry.Bytes() is
  // at most the byte bound (Admits, for the default one).
  size_t Put(const Entry& entry, Entry* evicted) {
    size_t n = 0;
    while (count_ > 0 && (count_ >= max_entries_ || bytes_ + entry.Bytes() > max_bytes_)) {
      evicted[n++] = entries_[0];
      RemoveAt(0);
    }
    entries_[count_++] = entry;
    bytes_ += entry.Bytes();
    return n;
  }

  // Removes and returns in *out the newest entry match(entry) accepts.
  template <typename Match>
  bool Take(Match match, Entry* out) {
    for (size_t i = count_; i-- > 0;) {
      if (match(entries_[i])) {
        *out = entries_[i];
        RemoveAt(i);
        return true;
      }
    }
    return false;
  }

  // Removes the oldest entries while old(entry) holds, into out[] (room for
  // Capacity); returns how many.
  template <typename Old>
  size_t TakeOldest(Old old, Entry* out) {
    size_t n = 0;
    while (n < count_ && old(entries_[n])) {
      out[n] = entries_[n];
      ++n;
    }
    if (n == 0) return 0;
    for (size_t i = n; i < count_; ++i) {
      entries_[i - n] = entries_[i];
    }
    for (size_t i = 0; i < n; ++i) bytes_ -= out[i].Bytes();
    count_ -= n;
    return n;
  }

  // The oldest entry; precondition: count() > 0.
  const Entry& oldest() const { return entries_[0]; }

  // Removes every entry into all[] (room for Capacity); returns how many.
  size_t TakeAll(Entry* all) {
    const size_t n = count_;
    for (size_t i = 0; i < n; ++i) all[i] = entries_[i];
    count_ = 0;
    bytes_ = 0;
    return n;
  }

  size_t count() const { return count_; }
  size_t bytes() const { return bytes_; }

 private:
  void RemoveAt(size_t i) {
    bytes_ -= entries_[i].Bytes();
    for (; i + 1 < count_; ++i) entries_[i] = entries_[i + 1];
    --count_;
  }

  Entry entries_[Capacity];
  size_t count_ = 0;
  size_t bytes_ = 0;
  size_t max_entries_ = Capacity < CachePolicy::kEntries ? Capacity : CachePolicy::kEntries;
  size_t max_bytes_ = CachePolicy::kBytes;
};

}  // namespace sysalloc
