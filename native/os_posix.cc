// The OS contract (os.h) on POSIX. Blocks: posix_memalign for small regions,
// mmap for large ones (docs/design.md, "Where block memory comes from", says why).
#include <dlfcn.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <malloc/malloc.h>
#else
#include <link.h>
#include <malloc.h>
#endif
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "os.h"
#include "portability.h"

namespace sysalloc {
namespace os {
namespace {

constexpr size_t kMmapFrom = 128 * 1024;

size_t QueryPageSize() {
  long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<size_t>(page) : 4096;
}

size_t PageRound(size_t size, bool* overflow) {
  const size_t page = PageSize();
  size_t length;
  *overflow = port::AddOverflows(size, page - 1, &length);
  return length & ~(page - 1);
}

int ProtFor(Access access) {
  switch (access) {
    case Access::kNone: return PROT_NONE;
    case Access::kRead: return PROT_READ;
    case Access::kReadWrite: return PROT_READ | PROT_WRITE;
  }
  return PROT_NONE;
}

pthread_key_t g_thread_key;

}  // namespace

size_t PageSize() {
  static const size_t page = QueryPageSize();
  return page;
}

size_t AllocationGranularity() { return PageSize(); }

Source SourceFor(size_t size, size_t align) {
  size_t total;
  if (port::AddOverflows(size, align, &total) || total >= kMmapFrom) return Source::kMmap;
  return Source::kPosixMemalign;
}

bool Allocate(size_t size, size_t align, Region* out) {
  if (SourceFor(size, align) == Source::kMmap) {
    bool overflow;
    const size_t length = PageRound(size, &overflow);
    if (overflow) return false;
    void* p = MapAligned(length, align > PageSize() ? align : PageSize(), 0);
    if (p == nullptr) return false;
    out->base = p;
    out->ptr = p;
    out->size = size;
    out->reserved = length;
    out->source = Source::kMmap;
    out->zeroed = true;  // anonymous mappings are zero-filled (mmap(2))
    return true;
  }
  // posix_memalign(3) wants a power-of-two multiple of sizeof(void*).
  const size_t effective = align < sizeof(void*) ? sizeof(void*) : align;
  void* p = nullptr;
  if (posix_memalign(&p, effective, size) != 0) return false;
  out->base = p;
  out->ptr = p;
  out->size = size;
  out->reserved = size;
  out->source = Source::kPosixMemalign;
  out->zeroed = false;
  return true;
}

void Release(const Region& region) {
  if (region.source == Source::kMmap) {
    Unmap(region.base, region.reserved);
  } else {
    free(region.base);
  }
}

void* MapAligned(size_t size, size_t align, size_t offset) {
  // mmap returns page-aligned addresses, so the wanted one lies within align - page of the start.
  const size_t page = PageSize();
  size_t mapped;
  if (port::AddOverflows(size, align - page, &mapped)) return nullptr;
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t mask = static_cast<uintptr_t>(align) - 1;
  const uintptr_t x = start + ((0 - (start + offset)) & mask);
  const size_t head = x - start;
  const size_t tail = mapped - head - size;
  if (head != 0) munmap(raw, head);
  if (tail != 0) munmap(reinterpret_cast<void*>(x + size), tail);
  return reinterpret_cast<void*>(x);
}

void* Reserve(size_t size) {
  void* p = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void Unmap(void* p, size_t size) { munmap(p, size); }

bool Commit(void* p, size_t size) { return mprotect(p, size, PROT_READ | PROT_WRITE) == 0; }

// MADV_DONTNEED: private anonymous pages read as zero afterwards (madvise(2)).
// The pages keep their access, so Commit only has to restore it after Reserve or Protect.
void Decommit(void* p, size_t size) { madvise(p, size, MADV_DONTNEED); }

bool GrowInPlace(void* p, size_t old_size, size_t new_size) {
#ifdef __linux__
  // Without MREMAP_MAYMOVE, mremap(2) grows in place or fails.
  return mremap(p, old_size, new_size, 0) != MAP_FAILED;
#else
  (void)p, (void)old_size, (void)new_size;
  return false;
#endif
}

bool Protect(void* p, size_t size, Access access) { return mprotect(p, size, ProtFor(access)) == 0; }

// On Linux the system calls themselves: the sanitizer runtimes replace mlock and
// munlock with no-ops that report success, and a sanitizer build must lock for real.
#ifdef __linux__
bool Lock(void* p, size_t size) { return syscall(SYS_mlock, p, size) == 0; }

bool Unlock(void* p, size_t size) { return syscall(SYS_munlock, p, size) == 0; }
#else
bool Lock(void* p, size_t size) { return mlock(p, size) == 0; }

bool Unlock(void* p, size_t size) { return munlock(p, size) == 0; }
#endif

bool Advise(void* p, size_t size, Advice advice) {
  switch (advice) {
    case Advice::kWillNeed: return madvise(p, size, MADV_WILLNEED) == 0;
#ifdef MADV_DONTDUMP
    case Advice::kNoDump: return madvise(p, size, MADV_DONTDUMP) == 0;
    case Advice::kDump: return madvise(p, size, MADV_DODUMP) == 0;
#else
    case Advice::kNoDump:
    case Advice::kDump: return false;
#endif
#ifdef MADV_HUGEPAGE
    case Advice::kHugePage: return madvise(p, size, MADV_HUGEPAGE) == 0;
#else
    case Advice::kHugePage: return false;
#endif
  }
  return false;
}

void SecureZero(void* p, size_t size) {
  std::memset(p, 0, size);
  // The barrier tells the compiler the zeroed memory is read after the memset,
  // so the stores stay even when the memory is freed next (libsodium's fallback).
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

size_t HugePageSize() {
#if defined(__linux__)
  static const size_t size = [] {
    size_t bytes = size_t{2} << 20;
    if (FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r")) {
      unsigned long long v = 0;
      if (std::fscanf(f, "%llu", &v) == 1 && v != 0 && (v & (v - 1)) == 0) bytes = static_cast<size_t>(v);
      std::fclose(f);
    }
    return bytes;
  }();
  return size;
#else
  return 0;
#endif
}

void* MapLargePages(size_t /*size*/) { return nullptr; }

size_t HugePageBytes(void* p, size_t /*size*/) {
#if defined(__linux__)
  FILE* f = std::fopen("/proc/self/smaps", "r");
  if (f == nullptr) return 0;
  const uintptr_t at = reinterpret_cast<uintptr_t>(p);
  char* line = nullptr;
  size_t capacity = 0;
  bool inside = false;
  size_t bytes = 0;
  while (getline(&line, &capacity, f) != -1) {
    uintptr_t from = 0;
    uintptr_t to = 0;
    char after = 0;
    // A mapping's header: "from-to perms ...": hexadecimal, a dash, a space after.
    if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR "%c", &from, &to, &after) == 3 && after == ' ') {
      if (inside) break;
      inside = at >= from && at < to;
      continue;
    }
    unsigned long long kb = 0;
    if (inside && std::sscanf(line, "AnonHugePages: %llu kB", &kb) == 1) {
      bytes = static_cast<size_t>(kb) * 1024;
      break;
    }
  }
  std::free(line);
  std::fclose(f);
  return bytes;
#else
  (void)p;
  return 0;
#endif
}

int64_t LockLimit() {
  rlimit limit;
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return 0;
  return limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<int64_t>(limit.rlim_cur);
}

void SystemFree(void* p) { std::free(p); }

size_t SystemUsableSize(void* p) {
#if defined(__APPLE__)
  return malloc_size(p);
#else
  return malloc_usable_size(p);
#endif
}

size_t DescribeCode(const void* address, char* out, size_t size) {
  Dl_info info;
  int n;
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) {
    n = std::snprintf(out, size, "0x%" PRIxPTR, reinterpret_cast<uintptr_t>(address));
  } else {
    const char* slash = std::strrchr(info.dli_fname, '/');
    const char* module = slash != nullptr ? slash + 1 : info.dli_fname;
    const uintptr_t at = reinterpret_cast<uintptr_t>(address);
    if (info.dli_sname != nullptr && info.dli_saddr != nullptr) {
      n = std::snprintf(out, size, "%s(%s+0x%" PRIxPTR ")", module, info.dli_sname,
                        at - reinterpret_cast<uintptr_t>(info.dli_saddr));
    } else {
      n = std::snprintf(out, size, "%s+0x%" PRIxPTR, module, at - reinterpret_cast<uintptr_t>(info.dli_fbase));
    }
  }
  if (n < 0) n = 0;
  return static_cast<size_t>(n) < size ? static_cast<size_t>(n) : (size == 0 ? 0 : size - 1);
}

bool InitThreadExit(void (*on_exit)(void*)) { return pthread_key_create(&g_thread_key, on_exit) == 0; }

void SetThreadValue(void* value) { pthread_setspecific(g_thread_key, value); }

// ---- Rendezvous: an environment variable NAME=<pid>:<address>
//
// The environment is the one store every copy of sysalloc in a process can find
// by name without a shared symbol. The pid makes a value inherited by a child
// process (or left by an exec'd one) stale; the address must lie in a loaded
// module. Reading and writing it is one step under a lock every copy takes: on
// glibc, the dynamic loader's (held for the whole of dl_iterate_phdr, which may
// nest); elsewhere there is no such lock, and two copies starting at the same
// instant in two threads may each keep their own (docs/design.md).
namespace {

struct Election {
  const char* name;
  const void* candidate;
  const void* result;
};

bool InsideLoadedModule(const void* address) {
#if defined(__GLIBC__)
  // dladdr would take the loader's other lock in the order opposite to dlopen's.
  struct Probe {
    uintptr_t address;
    bool found;
  } probe{reinterpret_cast<uintptr_t>(address), false};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        Probe* pr = static_cast<Probe*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          const uintptr_t from = info->dlpi_addr + ph.p_vaddr;
          if (ph.p_type == PT_LOAD && pr->address >= from && pr->address - from < ph.p_memsz) {
            pr->found = true;
            return 1;
          }
        }
        return 0;
      },
      &probe);
  return probe.found;
#else
  Dl_info info;
  return dladdr(address, &info) != 0;
#endif
}

void Elect(Election* e) {
  char own[64];
  std::snprintf(own, sizeof own, "%ld:%" PRIxPTR, static_cast<long>(getpid()),
                reinterpret_cast<uintptr_t>(e->candidate));
  const char* published = std::getenv(e->name);
  if (published != nullptr) {
    long pid = 0;
    uintptr_t address = 0;
    if (std::sscanf(published, "%ld:%" SCNxPTR, &pid, &address) == 2 && pid == static_cast<long>(getpid()) &&
        address != 0 && InsideLoadedModule(reinterpret_cast<const void*>(address))) {
      e->result = reinterpret_cast<const void*>(address);
      return;
    }
  }
  setenv(e->name, own, 1);  // when even this fails, this copy keeps its own
  e->result = e->candidate;
}

}  // namespace

const void* Rendezvous(const char* name, const void* candidate) {
  Election e{name, candidate, nullptr};
#if defined(__GLIBC__)
  dl_iterate_phdr(
      [](dl_phdr_info*, size_t, void* data) {
        Elect(static_cast<Election*>(data));
        return 1;  // once, with the lock held
      },
      &e);
  if (e.result == nullptr) Elect(&e);  // no module listed: cannot happen, but never return null
#else
  Elect(&e);
#endif
  return e.result;
}

}  // namespace os
}  // namespace sysalloc
