// The one place for compiler-specific builtins and attributes: a GCC/Clang
// branch and an MSVC branch of each, nothing else. No Node or V8 headers.
// The MSVC branch serves cl.exe and clang-cl (which define _MSC_VER and know
// its intrinsics); mingw-w64's gcc takes the GCC branch.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(_MSC_VER)
#include <intrin.h>
#define SYSALLOC_MSVC 1
#else
#define SYSALLOC_MSVC 0
#endif

// SYSALLOC_LIKELY(x) / SYSALLOC_UNLIKELY(x): a branch hint; the value of x unchanged.
// SYSALLOC_NOINLINE: keeps a cold path out of its callers.
// SYSALLOC_THREAD_LOCAL: a thread-local variable of a trivial type with a
// constant initializer, reached without C++11 thread_local's wrapper call.
// SYSALLOC_ASSUME(x): the optimizer may take x as true; x must hold.
// SYSALLOC_RETURN_ADDRESS(): where the calling function returns to (its
// caller's code), for naming the caller of an exported entry point.
#if SYSALLOC_MSVC
#define SYSALLOC_RETURN_ADDRESS() _ReturnAddress()
#define SYSALLOC_LIKELY(x) (x)
#define SYSALLOC_UNLIKELY(x) (x)
#define SYSALLOC_NOINLINE __declspec(noinline)
#define SYSALLOC_ASSUME(x) __assume(x)
#define SYSALLOC_THREAD_LOCAL __declspec(thread)
#else
#define SYSALLOC_THREAD_LOCAL __thread
#define SYSALLOC_RETURN_ADDRESS() __builtin_return_address(0)
#define SYSALLOC_LIKELY(x) __builtin_expect(!!(x), 1)
#define SYSALLOC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SYSALLOC_NOINLINE __attribute__((noinline))
#define SYSALLOC_ASSUME(x) \
  do {                     \
    if (!(x)) __builtin_unreachable(); \
  } while (0)
#endif

namespace sysalloc {
namespace port {

// The index of the highest set bit. Precondition: x != 0.
inline unsigned HighestBit(uint64_t x) {
#if SYSALLOC_MSVC
#if defined(_M_X64) || defined(_M_ARM64)
  unsigned long index;
  _BitScanReverse64(&index, x);
  return static_cast<unsigned>(index);
#else
  unsigned long index;
  const uint32_t high = static_cast<uint32_t>(x >> 32);
  if (high != 0) {
    _BitScanReverse(&index, high);
    return static_cast<unsigned>(index) + 32;
  }
  _BitScanReverse(&index, static_cast<uint32_t>(x));
  return static_cast<unsigned>(index);
#endif
#else
  return 63u - static_cast<unsigned>(__builtin_clzll(x));
#endif
}

// *sum = a + b; true when the true sum does not fit (then *sum is a + b modulo 2^N).
inline bool AddOverflows(size_t a, size_t b, size_t* sum) {
#if SYSALLOC_MSVC
  *sum = a + b;  // unsigned arithmetic wraps: the sum overflowed exactly when it wrapped below a
  return *sum < a;
#else
  return __builtin_add_overflow(a, b, sum);
#endif
}

// *product = a * b; true when the true product does not fit.
inline bool MulOverflows(size_t a, size_t b, size_t* product) {
#if SYSALLOC_MSVC && defined(_M_X64)
  unsigned __int64 high;
  *product = _umul128(a, b, &high);
  return high != 0;
#elif SYSALLOC_MSVC && defined(_M_ARM64)
  *product = a * b;
  return __umulh(a, b) != 0;
#elif SYSALLOC_MSVC
  *product = a * b;
  return a != 0 && *product / a != b;
#else
  return __builtin_mul_overflow(a, b, product);
#endif
}

}  // namespace port
}  // namespace sysalloc
