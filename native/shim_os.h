// What the shim asks of the operating system, one small function each, for
// POSIX and Windows. No Node or V8 headers: drivers call the shim from their own
// threads. Sizes are multiples of the 4 MiB granule unless said otherwise.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <malloc.h>
#include <windows.h>
#else
#include <pthread.h>
#include <sys/mman.h>
#if defined(__APPLE__)
#include <malloc/malloc.h>
#else
#include <malloc.h>
#endif
#endif

namespace sysalloc {
namespace shim_os {

// The unit in which the shim maps, marks and releases memory.
constexpr size_t kGranule = size_t{1} << 22;

// Maps size bytes readable and writable at an address X with (X + offset) a
// multiple of align (align a power of two, at least the OS's allocation
// granularity). The pages read as zero. nullptr when the OS refuses.
void* MapAligned(size_t size, size_t align, size_t offset);

// Gives the physical memory behind [p, p + size) back to the OS, keeping the
// address range reserved. Recommit must succeed before the range is used
// again; it then reads as zero.
void Decommit(void* p, size_t size);
bool Recommit(void* p, size_t size);

// Grows the mapping that ends at p + old_size to end at p + new_size without
// moving it, when the addresses after it are free. false otherwise.
bool GrowInPlace(void* p, size_t old_size, size_t new_size);

// The system allocator, for pointers the shim did not issue.
inline void SystemFree(void* p) { std::free(p); }
inline size_t SystemUsableSize(void* p) {
#if defined(_WIN32)
  return _msize(p);
#elif defined(__APPLE__)
  return malloc_size(p);
#else
  return malloc_usable_size(p);
#endif
}

// Calls on_exit(value) when the calling thread ends, once SetThreadValue gave
// it a non-null value. Init is called once, before the first SetThreadValue.
bool InitThreadExit(void (*on_exit)(void*));
void SetThreadValue(void* value);

#ifdef _WIN32

inline void* MapAligned(size_t size, size_t align, size_t offset) {
  // Reserve enough to find the address, release, and claim it; another thread
  // may take it in between, so try a few times.
  for (int attempt = 0; attempt < 8; ++attempt) {
    void* probe = VirtualAlloc(nullptr, size + align, MEM_RESERVE, PAGE_NOACCESS);
    if (probe == nullptr) return nullptr;
    const uintptr_t start = reinterpret_cast<uintptr_t>(probe);
    const uintptr_t x = ((start + offset + align - 1) & ~(static_cast<uintptr_t>(align) - 1)) - offset;
    VirtualFree(probe, 0, MEM_RELEASE);
    void* p = VirtualAlloc(reinterpret_cast<void*>(x), size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (p != nullptr) return p;
  }
  return nullptr;
}
// A range may span several MapAligned reservations, and VirtualAlloc and
// VirtualFree work within one, so commit and decommit granule by granule.
inline void Decommit(void* p, size_t size) {
  for (size_t off = 0; off < size; off += kGranule) VirtualFree(static_cast<char*>(p) + off, kGranule, MEM_DECOMMIT);
}
inline bool Recommit(void* p, size_t size) {
  for (size_t off = 0; off < size; off += kGranule) {
    if (VirtualAlloc(static_cast<char*>(p) + off, kGranule, MEM_COMMIT, PAGE_READWRITE) == nullptr) return false;
  }
  return true;
}
inline bool GrowInPlace(void*, size_t, size_t) { return false; }

// Internal linkage, as on POSIX below.
namespace detail {
static DWORD g_fls_index = FLS_OUT_OF_INDEXES;
static void (*g_on_exit)(void*) = nullptr;
static void WINAPI FlsCallback(void* value) {
  if (value != nullptr) g_on_exit(value);
}
}  // namespace detail

inline bool InitThreadExit(void (*on_exit)(void*)) {
  detail::g_on_exit = on_exit;
  detail::g_fls_index = FlsAlloc(detail::FlsCallback);
  return detail::g_fls_index != FLS_OUT_OF_INDEXES;
}
inline void SetThreadValue(void* value) { FlsSetValue(detail::g_fls_index, value); }

#else  // POSIX

inline void* MapAligned(size_t size, size_t align, size_t offset) {
  const size_t mapped = size + align;
  if (mapped < size) return nullptr;
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t x = ((start + offset + align - 1) & ~(static_cast<uintptr_t>(align) - 1)) - offset;
  if (x < start) x += align;
  const size_t head = x - start;
  const size_t tail = mapped - head - size;
  if (head != 0) munmap(raw, head);
  if (tail != 0) munmap(reinterpret_cast<void*>(x + size), tail);
  return reinterpret_cast<void*>(x);
}
// MADV_DONTNEED: private anonymous pages read as zero afterwards (madvise(2)).
inline void Decommit(void* p, size_t size) { madvise(p, size, MADV_DONTNEED); }
inline bool Recommit(void*, size_t) { return true; }
inline bool GrowInPlace(void* p, size_t old_size, size_t new_size) {
#ifdef __linux__
  // Without MREMAP_MAYMOVE, mremap(2) grows in place or fails.
  return mremap(p, old_size, new_size, 0) != MAP_FAILED;
#else
  (void)p, (void)old_size, (void)new_size;
  return false;
#endif
}

// The key has internal linkage (shim.cc is the only file that includes this
// one), on purpose: gcc makes the static local of an inline function a GNU
// unique symbol, which the dynamic linker shares between every copy of
// sysalloc in the process (two versions of the package in node_modules),
// RTLD_LOCAL or not. The copy that initialised second took over the first
// one's key, and its thread-exit handler then freed the other copy's thread
// lists while that copy still listed them (a use after free ASan reported).
namespace detail {
static pthread_key_t g_key;
}  // namespace detail

inline bool InitThreadExit(void (*on_exit)(void*)) { return pthread_key_create(&detail::g_key, on_exit) == 0; }
inline void SetThreadValue(void* value) { pthread_setspecific(detail::g_key, value); }

#endif

}  // namespace shim_os
}  // namespace sysalloc
