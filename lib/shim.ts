// The shim: C functions with the C library's signatures (native/include/sysalloc.h)
// that another addon plugs into a C library. JavaScript only hands out their
// addresses and reads the counters; the C functions never call into JavaScript.
import path = require('path');

import { native, NativeShimPointers, NativeShimStats } from './native';

/**
 * Addresses (bigint) of the process's shim functions (`sysalloc_malloc`,
 * `sysalloc_calloc`, `sysalloc_realloc`, `sysalloc_free`, `sysalloc_aligned_alloc`,
 * `sysalloc_usable_size`, `sysalloc_get_stats`), and of the function table
 * (`struct sysalloc_api`) that a consumer checks with `sysalloc_api_at(table)`.
 * Every copy of sysalloc loaded in the process returns the same addresses: the
 * table of the copy that was asked first.
 */
export type ShimPointers = NativeShimPointers;

/**
 * The process's shim counters, over every thread and every copy of sysalloc in
 * the process (they share one shim), as `struct sysalloc_stats` defines them. `liveBytes` and `peakBytes` are exact at any moment; the others once no
 * other thread is inside the shim.
 */
export type ShimStats = NativeShimStats;

/**
 * The folder holding `sysalloc.h`, for another addon's binding.gyp:
 * `"include_dirs": ["<!(node -p \"require('sysalloc').includeDir\")"]`.
 */
export const includeDir: string = path.join(__dirname, '..', 'native', 'include');

export const shim = {
  pointers(): ShimPointers {
    return native.shimPointers();
  },
  stats(): ShimStats {
    return native.shimStats();
  },
};
