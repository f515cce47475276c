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
// with a member `size_t Bytes() const`.
template <typename Entry>
class ReleasedCache {
 public:
  // Whether an entry of this many bytes is ever kept.
  static bool Admits(size_t bytes) { return bytes <= CachePolicy::kLargest; }

  // Keeps entry, first evicting the oldest entries until it fits; the evicted
  // ones go to evicted[] (room for CachePolicy::kEntries), for the caller to
  // give back to the OS outside its lock. Returns how many. Precondition:
  // Admits(entry.Bytes()).
  size_t Put(const Entry& entry, Entry* evicted) {
    size_t n = 0;
    while (count_ > 0 && (count_ == CachePolicy::kEntries || bytes_ + entry.Bytes() > CachePolicy::kBytes)) {
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

  // Removes every entry into all[] (room for CachePolicy::kEntries); returns how many.
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

  Entry entries_[CachePolicy::kEntries];
  size_t count_ = 0;
  size_t bytes_ = 0;
};

}  // namespace sysalloc
