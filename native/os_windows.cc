// The OS contract (os.h) on Windows. Blocks: _aligned_malloc for small regions,
// VirtualAlloc for large ones (docs/design.md, "Where block memory comes from").
#include "os.h"
#include "portability.h"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sysalloc {
namespace os {
namespace {

SYSTEM_INFO QuerySystemInfo() {
  SYSTEM_INFO info;
  GetSystemInfo(&info);
  return info;
}

const SYSTEM_INFO& Info() {
  static const SYSTEM_INFO info = QuerySystemInfo();
  return info;
}

DWORD ProtectFor(Access access) {
  switch (access) {
    case Access::kNone: return PAGE_NOACCESS;
    case Access::kRead: return PAGE_READONLY;
    case Access::kReadWrite: return PAGE_READWRITE;
  }
  return PAGE_NOACCESS;
}

DWORD g_fls_index = FLS_OUT_OF_INDEXES;
void (*g_on_exit)(void*) = nullptr;

void WINAPI FlsCallback(void* value) {
  if (value != nullptr) g_on_exit(value);
}

// PrefetchVirtualMemory is Windows 8 and later; looked up so that the addon
// still loads where it is missing.
struct MemoryRange {
  void* address;
  SIZE_T bytes;
};
using PrefetchFn = BOOL(WINAPI*)(HANDLE, ULONG_PTR, MemoryRange*, ULONG);

PrefetchFn LookUpPrefetch() {
  HMODULE kernel = GetModuleHandleW(L"kernel32.dll");
  if (kernel == nullptr) return nullptr;
  return reinterpret_cast<PrefetchFn>(reinterpret_cast<void*>(GetProcAddress(kernel, "PrefetchVirtualMemory")));
}

}  // namespace

size_t PageSize() { return Info().dwPageSize; }

size_t AllocationGranularity() { return Info().dwAllocationGranularity; }

Source SourceFor(size_t size, size_t align) {
  const size_t granularity = AllocationGranularity();
  return size >= granularity || align >= granularity ? Source::kVirtualAlloc : Source::kAlignedMalloc;
}

bool Allocate(size_t size, size_t align, Region* out) {
  if (SourceFor(size, align) == Source::kVirtualAlloc) {
    const size_t page = PageSize();
    size_t length;
    if (port::AddOverflows(size, page - 1, &length)) return false;
    length &= ~(page - 1);
    const size_t granularity = AllocationGranularity();
    void* p = MapAligned(length, align > granularity ? align : granularity, 0);
    if (p == nullptr) return false;
    out->base = p;
    out->ptr = p;
    out->size = size;
    out->reserved = length;
    out->source = Source::kVirtualAlloc;
    out->zeroed = true;  // committed pages are zero-initialized (VirtualAlloc docs)
    return true;
  }
  void* p = _aligned_malloc(size, align < sizeof(void*) ? sizeof(void*) : align);
  if (p == nullptr) return false;
  out->base = p;
  out->ptr = p;
  out->size = size;
  out->reserved = size;
  out->source = Source::kAlignedMalloc;
  out->zeroed = false;
  return true;
}

void Release(const Region& region) {
  if (region.source == Source::kVirtualAlloc) {
    Unmap(region.base, region.reserved);
  } else {
    _aligned_free(region.base);
  }
}

void* MapAligned(size_t size, size_t align, size_t offset) {
  if (align <= AllocationGranularity() && offset % align == 0) {
    return VirtualAlloc(nullptr, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  }
  // Find a free range large enough, release it and claim the aligned address
  // inside it. Another thread can take that range in between, so retry (the
  // classic technique before VirtualAlloc2, which Windows 8.1 lacks).
  size_t probe_length;
  if (port::AddOverflows(size, align, &probe_length)) return nullptr;
  const uintptr_t mask = static_cast<uintptr_t>(align) - 1;
  for (int attempt = 0; attempt < 16; ++attempt) {
    void* probe = VirtualAlloc(nullptr, probe_length, MEM_RESERVE, PAGE_NOACCESS);
    if (probe == nullptr) return nullptr;
    const uintptr_t start = reinterpret_cast<uintptr_t>(probe);
    const uintptr_t x = start + ((0 - (start + offset)) & mask);
    VirtualFree(probe, 0, MEM_RELEASE);
    void* p = VirtualAlloc(reinterpret_cast<void*>(x), size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (p != nullptr) return p;
  }
  return nullptr;
}

void* Reserve(size_t size) { return VirtualAlloc(nullptr, size, MEM_RESERVE, PAGE_NOACCESS); }

void Unmap(void* p, size_t /*size*/) { VirtualFree(p, 0, MEM_RELEASE); }

bool Commit(void* p, size_t size) { return VirtualAlloc(p, size, MEM_COMMIT, PAGE_READWRITE) != nullptr; }

void Decommit(void* p, size_t size) { VirtualFree(p, size, MEM_DECOMMIT); }

bool GrowInPlace(void*, size_t, size_t) { return false; }

bool Protect(void* p, size_t size, Access access) {
  DWORD old;
  return VirtualProtect(p, size, ProtectFor(access), &old) != 0;
}

bool Lock(void* p, size_t size) { return VirtualLock(p, size) != 0; }

bool Unlock(void* p, size_t size) { return VirtualUnlock(p, size) != 0; }

bool Advise(void* p, size_t size, Advice advice) {
  if (advice != Advice::kWillNeed) return false;  // no per-range core dump control
  static const PrefetchFn prefetch = LookUpPrefetch();
  if (prefetch == nullptr) return false;
  MemoryRange range{p, size};
  return prefetch(GetCurrentProcess(), 1, &range, 0) != 0;
}

void SecureZero(void* p, size_t size) { RtlSecureZeroMemory(p, size); }

size_t HugePageSize() { return GetLargePageMinimum(); }

void* MapLargePages(size_t size) {
  const size_t large = HugePageSize();
  if (large == 0 || size % large != 0) return nullptr;
  // MEM_LARGE_PAGES needs SeLockMemoryPrivilege held and enabled in the token;
  // enabling succeeds only where an administrator granted it ("Lock pages in memory").
  static const bool enabled = [] {
    HANDLE token = nullptr;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token)) return false;
    TOKEN_PRIVILEGES privileges{};
    privileges.PrivilegeCount = 1;
    privileges.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
    bool ok = LookupPrivilegeValueW(nullptr, L"SeLockMemoryPrivilege", &privileges.Privileges[0].Luid) &&
              AdjustTokenPrivileges(token, FALSE, &privileges, 0, nullptr, nullptr) &&
              GetLastError() == ERROR_SUCCESS;  // ERROR_NOT_ALL_ASSIGNED: not held
    CloseHandle(token);
    return ok;
  }();
  if (!enabled) return nullptr;
  return VirtualAlloc(nullptr, size, MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES, PAGE_READWRITE);
}

size_t HugePageBytes(void*, size_t) { return 0; }

int64_t LockLimit() {
  SIZE_T minimum = 0;
  SIZE_T maximum = 0;
  if (!GetProcessWorkingSetSize(GetCurrentProcess(), &minimum, &maximum)) return 0;
  return static_cast<int64_t>(minimum);
}

void SystemFree(void* p) { std::free(p); }

size_t SystemUsableSize(void* p) { return _msize(p); }

size_t DescribeCode(const void* address, char* out, size_t size) {
  // Module and offset only: symbols would need DbgHelp and the module's PDB.
  HMODULE module = nullptr;
  char path[MAX_PATH];
  int n;
  if (GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                         static_cast<LPCSTR>(address), &module) &&
      GetModuleFileNameA(module, path, sizeof path) != 0) {
    const char* slash = std::strrchr(path, '\\');
    n = std::snprintf(out, size, "%s+0x%llx", slash != nullptr ? slash + 1 : path,
                      static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(address) -
                                                      reinterpret_cast<uintptr_t>(module)));
  } else {
    n = std::snprintf(out, size, "0x%llx", static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(address)));
  }
  if (n < 0) n = 0;
  return static_cast<size_t>(n) < size ? static_cast<size_t>(n) : (size == 0 ? 0 : size - 1);
}

bool InitThreadExit(void (*on_exit)(void*)) {
  g_on_exit = on_exit;
  g_fls_index = FlsAlloc(FlsCallback);
  return g_fls_index != FLS_OUT_OF_INDEXES;
}

void SetThreadValue(void* value) { FlsSetValue(g_fls_index, value); }

// Rendezvous: a page-file-backed section named after the name and the process
// id, in the session's Local namespace. Creating or opening it is atomic in the
// kernel, and the first compare-and-swap on its first word decides. The handle
// and the view stay open for the life of the process.
const void* Rendezvous(const char* name, const void* candidate) {
  char section[128];
  std::snprintf(section, sizeof section, "Local\\%s-%lu", name, static_cast<unsigned long>(GetCurrentProcessId()));
  HANDLE mapping = CreateFileMappingA(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE, 0, sizeof(void*), section);
  if (mapping == nullptr) return candidate;
  void* view = MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, sizeof(void*));
  if (view == nullptr) {
    CloseHandle(mapping);
    return candidate;
  }
  void* previous = InterlockedCompareExchangePointer(static_cast<void* volatile*>(view),
                                                     const_cast<void*>(candidate), nullptr);
  return previous != nullptr ? previous : candidate;
}

}  // namespace os
}  // namespace sysalloc
