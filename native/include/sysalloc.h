/*
 * sysalloc.h: the shim of sysalloc, malloc/realloc/free with the C library's
 * signatures, for C libraries that take pluggable allocators (zlib's zalloc,
 * SQLite's SQLITE_CONFIG_MALLOC, libuv's uv_replace_allocator, the Cassandra
 * C/C++ driver's cass_alloc_set_functions). Every live block is counted exactly.
 *
 * Getting the table. Node loads addons RTLD_LOCAL and sysalloc exports no C
 * symbol, so another addon never links these functions: it receives the table,
 * struct sysalloc_api, at run time, as the bigint
 * require('sysalloc').shim.pointers().table, and checks it with
 * sysalloc_api_at(). Every copy of sysalloc loaded in one process (two versions
 * nested in node_modules) hands out the same table, so a block from any copy can
 * be freed, resized and measured through any other.
 *
 * The functions are thread-safe, never call Node-API or V8, and may be called
 * from any thread, before and after any JavaScript runs. Why the shim is built
 * the way it is, and what it costs: docs/design.md, "The shim".
 */
#ifndef SYSALLOC_H
#define SYSALLOC_H

#include <stddef.h>
#include <stdint.h>

/* The version of sysalloc this header comes with (the npm package's), and
 * SYSALLOC_VERSION as one number: major * 10000 + minor * 100 + patch. */
#define SYSALLOC_VERSION_MAJOR 0
#define SYSALLOC_VERSION_MINOR 1
#define SYSALLOC_VERSION_PATCH 0
#define SYSALLOC_VERSION (SYSALLOC_VERSION_MAJOR * 10000 + SYSALLOC_VERSION_MINOR * 100 + SYSALLOC_VERSION_PATCH)

/* The layout version of struct sysalloc_api. */
#define SYSALLOC_API_VERSION 1u

/* Attributes for the compilers that know them; empty elsewhere. */
#if defined(__cplusplus) && (__cplusplus >= 201703L || (defined(_MSVC_LANG) && _MSVC_LANG >= 201703L))
#define SYSALLOC_NODISCARD [[nodiscard]]
#elif defined(__GNUC__) || defined(__clang__)
#define SYSALLOC_NODISCARD __attribute__((warn_unused_result))
#else
#define SYSALLOC_NODISCARD
#endif
#if defined(__GNUC__) || defined(__clang__)
#define SYSALLOC_MALLOC __attribute__((malloc))
#define SYSALLOC_ALLOC_SIZE(n) __attribute__((alloc_size(n)))
#define SYSALLOC_ALLOC_SIZE2(n, m) __attribute__((alloc_size(n, m)))
#define SYSALLOC_ALLOC_ALIGN(n) __attribute__((alloc_align(n)))
#elif defined(_MSC_VER)
#define SYSALLOC_MALLOC __declspec(restrict)
#define SYSALLOC_ALLOC_SIZE(n)
#define SYSALLOC_ALLOC_SIZE2(n, m)
#define SYSALLOC_ALLOC_ALIGN(n)
#else
#define SYSALLOC_MALLOC
#define SYSALLOC_ALLOC_SIZE(n)
#define SYSALLOC_ALLOC_SIZE2(n, m)
#define SYSALLOC_ALLOC_ALIGN(n)
#endif
#ifdef __cplusplus
#define SYSALLOC_NOEXCEPT noexcept
#else
#define SYSALLOC_NOEXCEPT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The rules every function keeps (the C standard, then glibc where the
 * standard leaves a choice):
 *  - Every pointer returned is aligned to 16 and unique, malloc(0) included.
 *  - Failure returns NULL with errno ENOMEM; a failed realloc leaves the old
 *    block untouched (C17 7.22.3.5). A size over PTRDIFF_MAX, or one whose
 *    size plus alignment overflows, fails so (as glibc since 2.30).
 *  - free never changes errno (POSIX.1-2024).
 *  - A pointer sysalloc did not issue (the system allocator's, from before the
 *    shim was installed) goes to the system allocator, and counts in
 *    foreign_frees. A pointer into the shim's memory that is not a live block
 *    (a double free, a pointer into the middle of a block) changes nothing and
 *    counts in invalid_frees.
 */

/* A block of at least size bytes, or NULL with errno ENOMEM. */
SYSALLOC_NODISCARD SYSALLOC_MALLOC SYSALLOC_ALLOC_SIZE(1) void* sysalloc_malloc(size_t size) SYSALLOC_NOEXCEPT;

/* A zero-filled block of count * size bytes; NULL with errno ENOMEM when the
 * product overflows (as glibc) or memory runs out. */
SYSALLOC_NODISCARD SYSALLOC_MALLOC SYSALLOC_ALLOC_SIZE2(1, 2) void* sysalloc_calloc(size_t count,
                                                                                  size_t size) SYSALLOC_NOEXCEPT;

/* Resizes ptr to size bytes, keeping min(old, new) bytes of its contents; may
 * move it. realloc(NULL, n) is malloc(n) (C17 7.22.3.5); realloc(p, 0) frees p
 * and returns NULL (as glibc). A foreign ptr moves into a new shim block (its
 * bytes as the system allocator reports them) and is freed. A pointer into the
 * shim's memory that is not a live block counts an invalid free and returns
 * NULL with errno EINVAL. An aligned block keeps its alignment while it resizes
 * in place; a moved one has malloc's alignment (as glibc). */
SYSALLOC_NODISCARD SYSALLOC_ALLOC_SIZE(2) void* sysalloc_realloc(void* ptr, size_t size) SYSALLOC_NOEXCEPT;

/* Releases ptr: a live shim block, NULL (C17 7.22.3.3: nothing happens), a
 * foreign pointer (to the system allocator's free), or an invalid one (counted,
 * ignored). */
void sysalloc_free(void* ptr) SYSALLOC_NOEXCEPT;

/* size bytes aligned to alignment. alignment must be a power of two, else NULL
 * with errno EINVAL (C17 7.22.3.1 lets it fail; glibc 2.38 does the same); below
 * 16 it gives 16; size need not be a multiple of it (C17, DR 460). Release with
 * sysalloc_free. */
SYSALLOC_NODISCARD SYSALLOC_MALLOC SYSALLOC_ALLOC_SIZE(2) SYSALLOC_ALLOC_ALIGN(1) void* sysalloc_aligned_alloc(
    size_t alignment, size_t size) SYSALLOC_NOEXCEPT;

/* The size asked for when ptr was allocated or last resized (malloc_usable_size(3)
 * allows exactly that); 0 for NULL or a pointer into the shim's memory that is
 * not live; for a foreign pointer, what the system allocator reports
 * (malloc_usable_size, malloc_size, _msize). Counts nothing. */
size_t sysalloc_usable_size(void* ptr) SYSALLOC_NOEXCEPT;

/*
 * The shim's counters, over every thread of the process and every copy of
 * sysalloc that shares this shim.
 *   allocations    blocks created: malloc, calloc, aligned_alloc, realloc(NULL, n),
 *                  and realloc of a foreign pointer
 *   reallocations  realloc of a live shim block to a non-zero size, in place or moved
 *   frees          live shim blocks released by free or realloc(p, 0)
 *   live_blocks    allocations - frees
 *   live_bytes     sum of the sizes asked for, over live blocks
 *   peak_bytes     the highest live_bytes has been
 *   foreign_frees  pointers the shim did not issue, handed to the system allocator
 *   invalid_frees  pointers into the shim's memory that are not live blocks
 * Kept per thread and summed when read: exact whenever no other thread is
 * inside the shim. peak_bytes is exact while one thread allocates at a time;
 * threads allocating at the same moment can move it off the true peak by up to
 * 64 KiB per such thread, either way.
 */
struct sysalloc_stats {
  uint64_t allocations;
  uint64_t reallocations;
  uint64_t frees;
  uint64_t live_blocks;
  uint64_t live_bytes;
  uint64_t peak_bytes;
  uint64_t foreign_frees;
  uint64_t invalid_frees;
};

/* Fills *out with the counters. (Called sysalloc_stats, like the struct, before
 * 0.2; the table's stats member is the same function, so the table kept its
 * layout and version.) */
void sysalloc_get_stats(struct sysalloc_stats* out) SYSALLOC_NOEXCEPT;

/*
 * The function table. A later version only appends members and raises version;
 * size is sizeof(struct sysalloc_api) as the shim was built. A consumer checks
 * version >= SYSALLOC_API_VERSION and size >= its own sizeof: sysalloc_api_at.
 */
struct sysalloc_api {
  uint32_t version;
  uint32_t size;
  void* (*malloc)(size_t size);
  void* (*calloc)(size_t count, size_t size);
  void* (*realloc)(void* ptr, size_t size);
  void (*free)(void* ptr);
  void* (*aligned_alloc)(size_t alignment, size_t size);
  size_t (*usable_size)(void* ptr);
  void (*stats)(struct sysalloc_stats* out);
};

/* This copy's own table, valid for the life of the process. (JavaScript's
 * shim.pointers().table is the process's shared one.) */
const struct sysalloc_api* sysalloc_get_api(void) SYSALLOC_NOEXCEPT;

/* For a consumer: the table at address (the bigint from JavaScript), or NULL
 * when address is 0 or the table is older or smaller than this header. */
static inline const struct sysalloc_api* sysalloc_api_at(uint64_t address) {
  const struct sysalloc_api* api = (const struct sysalloc_api*)(uintptr_t)address;
  if (api == NULL || api->version < SYSALLOC_API_VERSION || api->size < sizeof(struct sysalloc_api)) return NULL;
  return api;
}

#ifdef __cplusplus
}
#endif

#endif /* SYSALLOC_H */
