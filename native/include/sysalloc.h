/*
 * sysalloc.h: the shim, malloc/realloc/free with the C library's signatures for
 * C libraries that take pluggable allocators and never tell the allocator a
 * block's size again (the Cassandra C/C++ driver's cass_alloc_set_functions,
 * zlib's zalloc/zfree, SQLite's SQLITE_CONFIG_MALLOC, libuv's
 * uv_replace_allocator). Every live block is counted exactly.
 *
 * Another addon cannot link these symbols (Node loads addons RTLD_LOCAL):
 * it receives the function table, struct sysalloc_api, at run time from
 * require('sysalloc').shim.pointers().table and checks it with
 * sysalloc_api_at(). The functions are thread-safe, never call Node-API or V8,
 * and may be called from any thread, before and after any JavaScript runs.
 *
 * Layout. Every pointer p the shim returns has a 16-byte header in front of it
 * (16 = alignof(max_align_t) on x86-64 and arm64, so p keeps malloc's
 * alignment): p - 16 holds the size asked for, p - 8 a state word (live or
 * freed; for an aligned pointer inside a larger block, also the offset back to
 * the block's start). Blocks of up to SYSALLOC_SMALL_MAX bytes come from
 * size classes (16-byte steps to 128, then four per power of two) carved out of
 * 4 MiB segments; class sizes are user sizes, so with the header a request of a
 * power of two does not spill into the next class. Larger blocks get whole
 * 4 MiB granules of their own.
 *
 * Pointers the shim never issued. Installed late, the shim meets blocks the
 * system allocator handed out before it (a driver that calls
 * uv_replace_allocator inside Node swaps the allocator of Node's own libuv,
 * which then frees its earlier blocks through the shim). The shim recognises
 * them without reading memory in front of them: all of its memory lies in
 * 4 MiB-aligned granules that it maps itself, and a table with two bits per
 * granule of the address space (16 MiB of zero-initialised, untouched static
 * storage) says whether a granule is the shim's. A pointer outside the shim's
 * granules is handed to the system allocator (free, or for realloc copied into
 * a new shim block and freed) and counted in foreign_frees. Inside them, the
 * shim finds the block by arithmetic (one multiply) and checks its state word,
 * so a double free, or a pointer into the middle of a block, is counted in
 * invalid_frees and changes nothing. Address space, once the shim's, stays the
 * shim's (released granules give their memory back to the OS but stay
 * reserved and marked), so a late double free is recognised too.
 * Why not read p - 16 of every pointer: glibc keeps a chunk header there, but
 * other allocators need not (a jemalloc or Windows heap pointer can start a
 * page), a freed large block is unmapped, and a magic number can be forged by
 * any data. Why not a registry of issued pointers: it cannot tell a double free
 * from a foreign pointer (neither is in it), and a prototype (64 shards, a
 * mutex each, open addressing) took glibc's malloc + free from 17 to 33 ns.
 * What the granule check costs (npm run bench:shim, 2-core Xeon, glibc 2.36):
 * finding a block's header, usable_size with the blocks in cache, 4.1 ns
 * against glibc's 2.3 ns; freeing a foreign pointer about 10% more than
 * glibc's free alone; whole workloads 0.95x (zlib), 1.00x (SQLite) and 0.67x
 * (a trace of mixed sizes) of glibc's time.
 *
 * Rules (the C standard, then glibc where the standard leaves a choice):
 *  - malloc(0) returns a unique non-NULL pointer (as glibc), usable size 0.
 *  - free(NULL) does nothing (C17 7.22.3.3). free never changes errno
 *    (POSIX.1-2024).
 *  - realloc(NULL, n) is malloc(n) (C17 7.22.3.5).
 *  - realloc(p, 0) frees p and returns NULL (as glibc; C17 leaves it to the
 *    implementation, C23 makes it undefined).
 *  - calloc(n, m) with n * m overflowing returns NULL, errno ENOMEM (as glibc).
 *  - A size over PTRDIFF_MAX, or one whose size + header + alignment overflows,
 *    returns NULL with errno ENOMEM (as glibc since 2.30).
 *  - Failure returns NULL with errno ENOMEM; a failed realloc leaves the old
 *    block untouched (C17 7.22.3.5).
 *  - aligned_alloc(a, n): a must be a power of two, else NULL with errno EINVAL
 *    (C17 7.22.3.1 lets an unsupported alignment fail; glibc 2.38 does the
 *    same); a below 16 gives 16; n need not be a multiple of a (C17, DR 460).
 *  - realloc of an aligned block keeps the alignment while it resizes in place;
 *    a moved block has malloc's alignment only (as glibc).
 */
#ifndef SYSALLOC_H
#define SYSALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SYSALLOC_API_VERSION 1u
/* Bytes in front of every returned pointer. */
#define SYSALLOC_HEADER_SIZE 16u
/* The largest request served from size classes; larger ones get granules. */
#define SYSALLOC_SMALL_MAX (1024u * 1024u)

/*
 * Process-wide counters over every thread.
 *   allocations    blocks created: malloc, calloc, aligned_alloc, realloc(NULL, n),
 *                  and realloc of a foreign pointer (its contents move into a
 *                  new shim block)
 *   reallocations  realloc of a live shim block to a non-zero size, in place or moved
 *   frees          live shim blocks released by free or realloc(p, 0)
 *   live_blocks    allocations - frees
 *   live_bytes     sum of the sizes asked for, over live blocks
 *   peak_bytes     the highest live_bytes has been
 *   foreign_frees  pointers the shim did not issue, handed to the system
 *                  allocator by free or realloc
 *   invalid_frees  pointers into the shim's memory that are not live blocks
 *                  (a double free, a pointer into the middle of a block), given
 *                  to free or realloc and otherwise ignored
 * The counters are kept per thread and summed when read (a locked add per call
 * would cost more than the rest of malloc): exact whenever no other thread is
 * inside the shim. peak_bytes is exact while one thread allocates at a time;
 * threads allocating at the same moment each see the others' bytes only in
 * steps of 64 KiB, so it can be off the true peak by up to 64 KiB per such
 * thread, either way.
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

/* A block of at least size bytes aligned to 16, or NULL with errno ENOMEM. */
void* sysalloc_malloc(size_t size);

/* A zero-filled block of count * size bytes; NULL with errno ENOMEM when the
 * product overflows or memory runs out. */
void* sysalloc_calloc(size_t count, size_t size);

/* Resizes ptr to size bytes, keeping min(old, new) bytes of its contents; may
 * move it. See the rules above for NULL, 0, failure, and foreign pointers. A
 * pointer into the shim's memory that is not a live block counts an invalid
 * free and returns NULL with errno EINVAL. */
void* sysalloc_realloc(void* ptr, size_t size);

/* Releases ptr: a live shim block, NULL (nothing happens), a foreign pointer
 * (given to the system allocator's free), or an invalid one (counted, ignored). */
void sysalloc_free(void* ptr);

/* size bytes aligned to alignment (a power of two); see the rules above.
 * Release with sysalloc_free. */
void* sysalloc_aligned_alloc(size_t alignment, size_t size);

/* The size asked for when ptr was allocated or last resized (malloc_usable_size(3)
 * allows exactly that: "may be greater than the requested size"); 0 for NULL or a
 * pointer into the shim's memory that is not live; for a foreign pointer, what the
 * system allocator reports (malloc_usable_size, _msize). Counts nothing. */
size_t sysalloc_usable_size(void* ptr);

/* Fills *out with the counters. (In C++ too, write struct sysalloc_stats, as with
 * struct stat: the function's name hides the type's.) */
void sysalloc_stats(struct sysalloc_stats* out);

/*
 * The function table another addon receives at run time. Version 1 has the
 * members below; a later version only appends members and raises version, and
 * size is sizeof(struct sysalloc_api) as the shim was built, so a consumer
 * built against this header checks version >= 1 and size >= its own sizeof.
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

/* The table, valid for the life of the process. */
const struct sysalloc_api* sysalloc_get_api(void);

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
