/* Force-included (-include) into every source of the prebuilt Linux binaries by
 * scripts/prebuild.js, never into a source build. glibc 2.34 moved libpthread and
 * libdl into libc.so.6 and gave their functions a new symbol version
 * (GLIBC_2.34), keeping the old one as an alias of the same code. Linked on a
 * newer glibc, the binary would then refuse to load on glibc < 2.34 (RHEL 8,
 * Ubuntu 20.04). Binding these names to their first version (the architecture's
 * baseline: GLIBC_2.2.5 on x86-64, GLIBC_2.17 on arm64) keeps the binary loadable
 * from glibc 2.17 on; scripts/prebuild.js checks the result with objdump -T.
 * Only functions whose old and new versions are one implementation belong here
 * (not, say, timer_create, whose GLIBC_2.2.5 version has another ABI). */
#if defined(__linux__)
#include <features.h> /* defines __GLIBC__ on glibc */
#endif
#if defined(__linux__) && defined(__GLIBC__)
#if defined(__x86_64__)
#define SYSALLOC_GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define SYSALLOC_GLIBC_BASE "GLIBC_2.17"
#endif
#ifdef SYSALLOC_GLIBC_BASE
#define SYSALLOC_SYMVER(name) __asm__(".symver " #name "," #name "@" SYSALLOC_GLIBC_BASE);
SYSALLOC_SYMVER(pthread_key_create)
SYSALLOC_SYMVER(pthread_key_delete)
SYSALLOC_SYMVER(pthread_getspecific)
SYSALLOC_SYMVER(pthread_setspecific)
SYSALLOC_SYMVER(pthread_once)
SYSALLOC_SYMVER(pthread_create)
SYSALLOC_SYMVER(pthread_join)
SYSALLOC_SYMVER(pthread_detach)
SYSALLOC_SYMVER(pthread_mutex_trylock)
SYSALLOC_SYMVER(pthread_mutexattr_init)
SYSALLOC_SYMVER(pthread_mutexattr_destroy)
SYSALLOC_SYMVER(pthread_mutexattr_settype)
SYSALLOC_SYMVER(pthread_rwlock_init)
SYSALLOC_SYMVER(pthread_rwlock_destroy)
SYSALLOC_SYMVER(pthread_rwlock_rdlock)
SYSALLOC_SYMVER(pthread_rwlock_wrlock)
SYSALLOC_SYMVER(pthread_rwlock_tryrdlock)
SYSALLOC_SYMVER(pthread_rwlock_trywrlock)
SYSALLOC_SYMVER(pthread_rwlock_unlock)
SYSALLOC_SYMVER(dlopen)
SYSALLOC_SYMVER(dlsym)
SYSALLOC_SYMVER(dladdr)
SYSALLOC_SYMVER(dlclose)
SYSALLOC_SYMVER(dlerror)
#undef SYSALLOC_SYMVER
#endif
#endif
