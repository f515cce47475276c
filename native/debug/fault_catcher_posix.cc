#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#if defined(__linux__)
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sys/ioctl.h>
#endif

#include "debug/fault_catcher.h"
#include "debug/held_slots.h"

namespace sysalloc {
namespace debug {
namespace {

// ---- a SIGSEGV/SIGBUS handler: touches from user space

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
    ReportTouch(*slot, reinterpret_cast<uintptr_t>(info->si_addr), ThreadId(), static_cast<uint64_t>(getpid()),
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
    ReportTouch(*slot, address, message.arg.pagefault.feat.ptid, static_cast<uint64_t>(getpid()),
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
#endif

}  // namespace

Catcher InstallFaultCatcher(bool prefer_userfaultfd) {
  Catcher catcher = InstallSignalHandler() ? Catcher::kSignal : Catcher::kNone;
#if defined(__linux__)
  if (prefer_userfaultfd && OpenUserfaultfd()) catcher = Catcher::kUserfaultfd;
#else
  (void)prefer_userfaultfd;
#endif
  return catcher;
}

bool WatchMissingPages(void* p, size_t length) {
#if defined(__linux__)
  if (g_uffd < 0) return false;
  uffdio_register reg;
  std::memset(&reg, 0, sizeof reg);
  reg.range.start = reinterpret_cast<uintptr_t>(p);
  reg.range.len = length;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  return ioctl(g_uffd, UFFDIO_REGISTER, &reg) == 0;
#else
  (void)p;
  (void)length;
  return false;
#endif
}

void UnwatchPages(void* p, size_t length) {
#if defined(__linux__)
  if (g_uffd < 0) return;
  uffdio_range range;
  range.start = reinterpret_cast<uintptr_t>(p);
  range.len = length;
  ioctl(g_uffd, UFFDIO_UNREGISTER, &range);
#else
  (void)p;
  (void)length;
#endif
}

}  // namespace debug
}  // namespace sysalloc
