// Keeps the Linux binaries loadable with the libstdc++ of GCC 5 and later
// (GLIBCXX_3.4.21; scripts/prebuild.js checks it with objdump -T).
//
// GCC 11's standard containers call std::__throw_bad_array_new_length(), which
// libstdc++ exports only from GLIBCXX_3.4.29 on. This hidden definition, with
// the same behaviour, satisfies those calls inside the addon, so the binary
// does not ask the system's libstdc++ for it.
#include <new>

#if defined(__linux__) && defined(__GLIBCXX__)
namespace std {
[[noreturn]] void __throw_bad_array_new_length() { throw bad_array_new_length(); }
}  // namespace std
#endif
