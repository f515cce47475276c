#include "debug/stderr_writer.h"

#include <cerrno>
#include <cstring>

#if defined(_WIN32)
#include <windows.h>
#else
#include <unistd.h>
#endif

namespace sysalloc {
namespace debug {

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

}  // namespace debug
}  // namespace sysalloc
