// The debug quarantine (SYSALLOC_DEBUG, SYSALLOC_GUARD_SAMPLE): page-backed
// blocks allocated in debug mode (blocks::kDebug) are not returned when freed.
// Their pages are made inaccessible and kept, up to a bound, and a touch of them
// from any thread is reported with the block's size, address and the sites
// JavaScript described at free(), then the process stops (docs/design.md,
// "Debug mode"). No Node or V8 headers; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "os.h"

namespace sysalloc {
namespace debug {

struct Bounds {
  size_t blocks;  // at most this many regions held (<= kMaxBlocks)
  size_t bytes;   // and at most this many bytes of pages (address space; the pages are decommitted)
};

constexpr size_t kMaxBlocks = 4096;
constexpr size_t kDefaultBlocks = 1024;
constexpr size_t kDefaultBytes = size_t{256} << 20;
// The longest report text kept per block (bytes); longer texts are cut.
constexpr size_t kTextMax = 1536;

// How touches of quarantined pages are caught.
enum class Catcher : uint8_t {
  kNone,         // not enabled yet
  kSignal,       // SIGSEGV/SIGBUS handler (POSIX): user-space touches; a system call gets EFAULT
  kUserfaultfd,  // Linux userfaultfd: user-space touches and system calls (read(2), write(2)) alike
  kVectored,     // Windows vectored exception handler
};

// Installs the catcher (once) and sets the bounds; hooks the block allocator.
// prefer_userfaultfd: use userfaultfd when the kernel lets this process (root,
// CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1), else the signal handler.
Catcher Enable(const Bounds& bounds, bool prefer_userfaultfd);
Catcher Current();
const char* CatcherName(Catcher catcher);

// The report of the block at ptr, kept for when its memory enters the
// quarantine (JavaScript calls it at free(), before the memory leaves the
// binding's own per-turn quarantine).
void Describe(uintptr_t ptr, const char* text, size_t length);

struct Stats {
  uint64_t blocks;    // regions held now
  uint64_t bytes;
  uint64_t entered;   // regions that entered since the process started
  uint64_t released;  // regions that left (bound reached, Flush)
};
Stats GetStats();

// Returns every held region to the allocator.
void Flush();

}  // namespace debug
}  // namespace sysalloc
