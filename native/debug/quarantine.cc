#include "debug/quarantine.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "blocks.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__linux__)
#include <fcntl.h>
#include <pthread.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#endif
#endif

namespace sysalloc {
namespace debug {
namespace {

// One held region, as the fault catchers read it: [begin, end) is the whole
// mapping (guards included), text the report prepared at free(). Catchers read
// slots without a lock (a signal handler may take none): a slot is published by
// storing end last and withdrawn by clearing begin first.
struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  size_t length = 0;
  char* text = nullptr;  // kTextMax bytes of g_texts
};

struct Held {
  os::Region region;
  size_t slot;
};

Slot* g_slots = nullptr;  // kMaxBlocks of them, made at the first Enable, never freed
char* g_texts = nullptr;  // kMaxBlocks * kTextMax bytes (calloc: pages backed only once used)
std::atomic<Catcher> g_catcher{Catcher::kNone};

std::mutex& Lock() {
  static std::mutex* mutex = new std::mutex();  // never destroyed: finalizers may run at exit
  return *mutex;
}

// A report text waiting for its region (a type of sysalloc's own, so that the
// map's code is hidden like the rest: scripts/check-exports.sh).
struct Text {
  std::string value;
};

// Guarded by Lock().
struct State {
  Bounds bounds{kDefaultBlocks, kDefaultBytes};
  std::deque<Held> held;  // oldest first
  size_t free_slots[kMaxBlocks];  // a stack of slot indices
  size_t free_count = 0;
  size_t bytes = 0;
  uint64_t entered = 0;
  uint64_t released = 0;
  std::unordered_map<uintptr_t, Text> texts;  // described at free(), not yet held
};
State& S() {
  static State* state = new State();
  return *state;
}

size_t Length(const os::Region& region) { return blocks::PagesLength(region); }

// ---- writing a report without allocating (signal handlers, the userfaultfd thread)

#if defined(_WIN32)
void WriteAll(const char* text, size_t length) {
  DWORD written = 0;
  HANDLE err = GetStdHandle(STD_ERROR_HANDLE);
  while (length > 0 && WriteFile(err, text, static_cast<DWORD>(length), &written, nullptr) && written > 0) {
    text += written;
    length -= written;
  }
}
#else
void WriteAll(const char* text, size_t length) {
  while (length > 0) {
    const ssize_t n = write(2, text, length);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    text += n;
    length -= static_cast<size_t>(n);
  }
}
#endif

void WriteText(const char* text) { WriteAll(text, std::strlen(text)); }

void WriteHex(uintptr_t value) {
  char digits[2 + 2 * sizeof(uintptr_t)];
  size_t n = sizeof digits;
  do {
    digits[--n] = "0123456789abcdef"[value & 0xf];
    value >>= 4;
  } while (value != 0);
  digits[--n] = 'x';
  digits[--n] = '0';
  WriteAll(digits + n, sizeof digits - n);
}

void WriteDecimal(uint64_t value) {
  char digits[24];
  size_t n = sizeof digits;
  do {
    digits[--n] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  WriteAll(digits + n, sizeof digits - n);
}

const Slot* FindSlot(uintptr_t address) {
  Slot* slots = g_slots;
  if (slots == nullptr) return nullptr;
  for (size_t i = 0; i < kMaxBlocks; ++i) {
    const uintptr_t end = slots[i].end.load(std::memory_order_acquire);
    const uintptr_t begin = slots[i].begin.load(std::memory_order_acquire);
    if (begin != 0 && address >= begin && address < end) return &slots[i];
  }
  return nullptr;
}

// The report for a touch of quarantined memory; thread is the OS's thread id.
void Report(const Slot* slot, uintptr_t address, uint64_t thread, uint64_t main_thread, const char* how) {
  WriteText("\nsysalloc debug: use after free: ");
  WriteText(how);
  WriteText(" ");
  WriteHex(address);
  WriteText(" by thread ");
  WriteDecimal(thread);
  WriteText(thread == main_thread ? " (the main thread)\n" : " (not the main thread: a worker or the thread pool)\n");
  WriteAll(slot->text, slot->length);
  WriteText("\n");
}

// ---- POSIX: a SIGSEGV/SIGBUS handler

#if !defined(_WIN32)
struct sigaction g_previous_segv;
struct sigaction g_previous_bus;

uint64_t ThreadId() {
#if defined(__linux__)
  return static_cast<uint64_t>(syscall(SYS_gettid));
#else
  return 0;
#endif
}

// Makes sig do what it did before sysalloc's handler.
void RestorePrevious(int sig) { sigaction(sig, sig == SIGBUS ? &g_previous_bus : &g_previous_segv, nullptr); }

void OnFault(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  const Slot* slot = info == nullptr ? nullptr : FindSlot(reinterpret_cast<uintptr_t>(info->si_addr));
  const struct sigaction& previous = sig == SIGBUS ? g_previous_bus : g_previous_segv;
  if (slot == nullptr && (previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, context);  // not ours: chained
    errno = saved_errno;
    return;
  }
  if (slot == nullptr && previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN &&
      (previous.sa_flags & SA_SIGINFO) == 0) {
    previous.sa_handler(sig);
    errno = saved_errno;
    return;
  }
  if (slot != nullptr) {
    Report(slot, reinterpret_cast<uintptr_t>(info->si_addr), ThreadId(), static_cast<uint64_t>(getpid()),
           "a read or write of");
  }
  // The previous action (the default: the process stops) takes the fault when
  // the instruction runs again; a signal sent by kill() is raised again instead.
  RestorePrevious(sig);
  if (info == nullptr || info->si_code <= 0) raise(sig);
  errno = saved_errno;
}

bool InstallSignalHandler() {
  // An alternate stack for the thread that enables debug mode, unless it has one
  // (other threads fault on their own stacks; SA_ONSTACK uses one where set).
  stack_t current;
  if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) != 0) {
    stack_t stack;
    stack.ss_size = 64 * 1024;
    stack.ss_sp = new char[stack.ss_size];  // kept for the life of the thread
    stack.ss_flags = 0;
    sigaltstack(&stack, nullptr);
  }
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = OnFault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  return sigaction(SIGSEGV, &action, &g_previous_segv) == 0 && sigaction(SIGBUS, &action, &g_previous_bus) == 0;
}
#endif

// ---- Linux: userfaultfd catches what the signal handler cannot, a system call
// (read(2) into freed memory fails with EFAULT under PROT_NONE, silently).

#if defined(__linux__)
int g_uffd = -1;

void* WatchFaults(void* arg) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  for (;;) {
    uffd_msg message;
    const ssize_t n = read(fd, &message, sizeof message);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof message)) return nullptr;
    if (message.event != UFFD_EVENT_PAGEFAULT) continue;
    const uintptr_t address = static_cast<uintptr_t>(message.arg.pagefault.address);
    const Slot* slot = FindSlot(address);
    if (slot == nullptr) continue;  // cannot happen: only held regions are registered
    const bool write = (message.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0;
    Report(slot, address, message.arg.pagefault.feat.ptid, static_cast<uint64_t>(getpid()),
           write ? "a write (or a system call's write) to" : "a read (or a system call's read) of");
    // Stop the process as the fault would have: SIGSEGV with its default action.
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigaction(SIGSEGV, &action, nullptr);
    raise(SIGSEGV);
    _exit(139);
  }
}

bool OpenUserfaultfd() {
#if defined(__NR_userfaultfd)
  // Without UFFD_USER_MODE_ONLY: faults inside system calls are reported too,
  // which needs privilege (CAP_SYS_PTRACE) or vm.unprivileged_userfaultfd=1.
  const int fd = static_cast<int>(syscall(__NR_userfaultfd, O_CLOEXEC));
  if (fd < 0) return false;
  uffdio_api api;
  std::memset(&api, 0, sizeof api);
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_THREAD_ID;
  if (ioctl(fd, UFFDIO_API, &api) != 0) {
    close(fd);
    return false;
  }
  pthread_t watcher;
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  const bool started =
      pthread_create(&watcher, &attributes, WatchFaults, reinterpret_cast<void*>(static_cast<intptr_t>(fd))) == 0;
  pthread_attr_destroy(&attributes);
  if (!started) {
    close(fd);
    return false;
  }
  g_uffd = fd;
  return true;
#else
  return false;
#endif
}

bool Register(void* p, size_t length) {
  uffdio_register reg;
  std::memset(&reg, 0, sizeof reg);
  reg.range.start = reinterpret_cast<uintptr_t>(p);
  reg.range.len = length;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  return ioctl(g_uffd, UFFDIO_REGISTER, &reg) == 0;
}

void Unregister(void* p, size_t length) {
  uffdio_range range;
  range.start = reinterpret_cast<uintptr_t>(p);
  range.len = length;
  ioctl(g_uffd, UFFDIO_UNREGISTER, &range);
}
#endif

// ---- Windows: a vectored exception handler

#if defined(_WIN32)
LONG CALLBACK OnException(EXCEPTION_POINTERS* pointers) {
  const EXCEPTION_RECORD* record = pointers->ExceptionRecord;
  if (record->ExceptionCode != EXCEPTION_ACCESS_VIOLATION || record->NumberParameters < 2) {
    return EXCEPTION_CONTINUE_SEARCH;
  }
  const uintptr_t address = static_cast<uintptr_t>(record->ExceptionInformation[1]);
  const Slot* slot = FindSlot(address);
  if (slot != nullptr) {
    Report(slot, address, GetCurrentThreadId(), 0, "a read or write of");
    // The access violation goes on to the next handler, and unhandled, stops the process.
  }
  return EXCEPTION_CONTINUE_SEARCH;
}
#endif

// Makes a region's pages inaccessible (or, under userfaultfd, missing and
// watched) and publishes its slot. Called with Lock() held.
void Seal(const os::Region& region, Slot* slot) {
  char* pages = blocks::PagesStart(region);
  const size_t length = Length(region);
  if (region.page_flags & blocks::kLocked) os::Unlock(pages, length);
#if defined(__linux__)
  if (g_catcher.load() == Catcher::kUserfaultfd) {
    if (region.access != os::Access::kReadWrite) os::Protect(pages, length, os::Access::kReadWrite);
    os::Decommit(pages, length);  // missing again: the next touch is a userfaultfd event
    if (Register(pages, length)) return;
  }
#endif
  os::Decommit(pages, length);
  os::Protect(pages, length, os::Access::kNone);
  (void)slot;
}

void Unseal(const os::Region& region) {
#if defined(__linux__)
  if (g_catcher.load() == Catcher::kUserfaultfd) Unregister(blocks::PagesStart(region), Length(region));
#else
  (void)region;
#endif
}

void Withdraw(const Held& held, std::vector<os::Region>* out) {
  Slot& slot = g_slots[held.slot];
  slot.begin.store(0, std::memory_order_release);
  slot.end.store(0, std::memory_order_release);
  S().free_slots[S().free_count++] = held.slot;
  S().bytes -= Length(held.region);
  ++S().released;
  out->push_back(held.region);
}

void Give(std::vector<os::Region>* regions) {
  for (const os::Region& region : *regions) {
    Unseal(region);
    blocks::ReleaseQuarantined(region);
  }
}

bool Take(const os::Region& region) {
  if (g_slots == nullptr) return false;
  std::vector<os::Region> out;
  {
    std::lock_guard<std::mutex> guard(Lock());
    State& s = S();
    const size_t length = Length(region);
    while (!s.held.empty() && (s.held.size() >= s.bounds.blocks || s.bytes + length > s.bounds.bytes)) {
      Withdraw(s.held.front(), &out);
      s.held.pop_front();
    }
    if (s.free_count == 0 || s.bounds.blocks == 0) {
      s.texts.erase(reinterpret_cast<uintptr_t>(region.ptr));
    } else {
      const size_t index = s.free_slots[--s.free_count];
      Slot& slot = g_slots[index];
      auto text = s.texts.find(reinterpret_cast<uintptr_t>(region.ptr));
      if (text != s.texts.end()) {
        const std::string& value = text->second.value;
        slot.length = value.size() < kTextMax ? value.size() : kTextMax;
        std::memcpy(slot.text, value.data(), slot.length);
        s.texts.erase(text);
      } else {
        static const char kUnknown[] = "a block freed without a description (its free() site was not recorded)";
        slot.length = sizeof kUnknown - 1;
        std::memcpy(slot.text, kUnknown, slot.length);
      }
      Seal(region, &slot);
      slot.begin.store(reinterpret_cast<uintptr_t>(region.base), std::memory_order_release);
      slot.end.store(reinterpret_cast<uintptr_t>(region.base) + region.reserved, std::memory_order_release);
      s.held.push_back(Held{region, index});
      s.bytes += length;
      ++s.entered;
      Give(&out);
      return true;
    }
  }
  Give(&out);
  return false;
}

void Forget(const os::Region& region) {
  std::lock_guard<std::mutex> guard(Lock());
  S().texts.erase(reinterpret_cast<uintptr_t>(region.ptr));
}

}  // namespace

const char* CatcherName(Catcher catcher) {
  switch (catcher) {
    case Catcher::kNone: return "none";
    case Catcher::kSignal: return "signal";
    case Catcher::kUserfaultfd: return "userfaultfd";
    case Catcher::kVectored: return "vectored";
  }
  return "none";
}

Catcher Enable(const Bounds& bounds, bool prefer_userfaultfd) {
  std::vector<os::Region> out;
  {
    std::lock_guard<std::mutex> guard(Lock());
    State& s = S();
    s.bounds.blocks = bounds.blocks < kMaxBlocks ? bounds.blocks : kMaxBlocks;
    s.bounds.bytes = bounds.bytes;
    if (g_slots == nullptr) {
      g_texts = static_cast<char*>(std::calloc(kMaxBlocks, kTextMax));
      if (g_texts == nullptr) return Catcher::kNone;
      g_slots = new Slot[kMaxBlocks];
      for (size_t i = 0; i < kMaxBlocks; ++i) g_slots[i].text = g_texts + i * kTextMax;
      for (size_t i = kMaxBlocks; i > 0; --i) s.free_slots[s.free_count++] = i - 1;
      Catcher catcher = Catcher::kNone;
#if defined(_WIN32)
      (void)prefer_userfaultfd;
      if (AddVectoredExceptionHandler(1, OnException) != nullptr) catcher = Catcher::kVectored;
#else
      if (InstallSignalHandler()) catcher = Catcher::kSignal;
#if defined(__linux__)
      if (prefer_userfaultfd && OpenUserfaultfd()) catcher = Catcher::kUserfaultfd;
#else
      (void)prefer_userfaultfd;
#endif
#endif
      g_catcher.store(catcher);
      blocks::SetDebugHooks(Take, Forget);
    }
    while (!s.held.empty() && (s.held.size() > s.bounds.blocks || s.bytes > s.bounds.bytes)) {
      Withdraw(s.held.front(), &out);
      s.held.pop_front();
    }
  }
  Give(&out);
  return g_catcher.load();
}

Catcher Current() { return g_catcher.load(); }

void Describe(uintptr_t ptr, const char* text, size_t length) {
  std::lock_guard<std::mutex> guard(Lock());
  S().texts[ptr].value.assign(text, length);
}

Stats GetStats() {
  std::lock_guard<std::mutex> guard(Lock());
  const State& s = S();
  return Stats{s.held.size(), s.bytes, s.entered, s.released};
}

void Flush() {
  std::vector<os::Region> out;
  {
    std::lock_guard<std::mutex> guard(Lock());
    State& s = S();
    while (!s.held.empty()) {
      Withdraw(s.held.front(), &out);
      s.held.pop_front();
    }
  }
  Give(&out);
}

}  // namespace debug
}  // namespace sysalloc
