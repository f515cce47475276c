// How touches of quarantined pages are caught, one implementation per OS:
// fault_catcher_posix.cc (a SIGSEGV/SIGBUS handler; on Linux, userfaultfd where
// the kernel lets this process) and fault_catcher_windows.cc (a vectored
// exception handler). Each looks the faulting address up in held_slots.h and
// reports it; a fault outside every slot goes on to whatever handled it before.
#pragma once

#include <cstddef>

#include "debug/quarantine.h"

namespace sysalloc {
namespace debug {

// Installs the catcher (call once). prefer_userfaultfd: Linux only, see Enable.
// kNone when nothing could be installed.
Catcher InstallFaultCatcher(bool prefer_userfaultfd);

// Under kUserfaultfd: registers [p, p + length) (decommitted pages) so that the
// next touch, a system call's included, is reported. False when the kernel
// refused (the caller protects the pages instead) or on other catchers.
bool WatchMissingPages(void* p, size_t length);
// Undoes WatchMissingPages before the pages are reused; no-op on other catchers.
void UnwatchPages(void* p, size_t length);

}  // namespace debug
}  // namespace sysalloc
