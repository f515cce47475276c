// Writing to stderr without allocating or locking, so that a signal handler or
// the userfaultfd watcher thread can report: write(2) on POSIX, WriteFile on
// Windows, retried until all is written or the descriptor fails.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sysalloc {
namespace debug {

void WriteAll(const char* text, size_t length);
void WriteText(const char* text);  // a NUL-terminated string
void WriteHex(uintptr_t value);    // 0x followed by lowercase digits, no padding
void WriteDecimal(uint64_t value);

}  // namespace debug
}  // namespace sysalloc
