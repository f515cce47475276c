'use strict';

const path = require('path');

// The sanitizer options of npm run test:asan (scripts/asan.sh), in one place:
// test/asan.test.ts runs its deliberate bugs under the same ones. node itself is
// not instrumented; the ASan runtime is preloaded into it (LD_PRELOAD) because
// it must come first in the process, before the instrumented addons load.
//
// Not needed, checked: handle_segv=0 or allow_user_segv_handler (ASan's default,
// handle_segv=1, lets V8 install its own SIGSEGV handler, and WebAssembly
// out-of-bounds traps still work under it), verify_asan_link_order=0 (the
// runtime is preloaded, so it is first), allocator_may_return_null=1 (the tests
// that cap the address space with prlimit pass without it: their large blocks
// are mapped, not malloc'd).

const ASAN_OPTIONS = [
  // LeakSanitizer checks every process of the suite when it exits, our addons'
  // records and tables included. Measured: Node 20 frees all it allocated when
  // its event loop runs out (node -e 0, jest, every child of the suite: no
  // report), but not when it ends through process.exit() or an uncaught error
  // (node -e "process.exit(0)": 388 blocks of V8's and node::CreateEnvironment's).
  // No test process ends that way; one that must needs detect_leaks=0 in its
  // own environment.
  'detect_leaks=1',
  // Stop at the first report (ASan's default, stated): a memory error is never
  // something to carry on from.
  'halt_on_error=1',
  // An exit status no test or tool uses for anything else, so a report is
  // told apart from an ordinary failure.
  'exitcode=86',
  // Cheap extra checks on our own code.
  'strict_string_checks=1',
  'check_initialization_order=1',
  'detect_stack_use_after_return=1',
  // GCC 12's runtime (Debian 12) takes a dynamic TLS block that happens to
  // start 16 bytes into a page for a pre-2.25 glibc block with a header, reads
  // a start and a size out of the bytes before it, and LeakSanitizer's tracer
  // then dies on them at exit ("Tracer caught signal 11", seen once in CI under
  // Node 24). LLVM fixed that heuristic in 2023 (google/sanitizers#1409); GCC 12
  // still has it. Without the interceptor the dynamic TLS blocks of glibc 2.25
  // and later are malloc'd blocks reached from the thread's DTV, so leak
  // checking still sees through them.
  'intercept_tls_get_addr=0',
].join(':');

// Undefined behaviour is an error too: the code is built with
// -fno-sanitize-recover=all, and these make the report complete and the exit
// status its own.
const UBSAN_OPTIONS = ['halt_on_error=1', 'print_stacktrace=1', 'exitcode=87'].join(':');

// LeakSanitizer: the one leak of Node itself it reports (lsan.supp says which,
// and on which Node), suppressed by its frame; print_suppressions=0 keeps the
// table of used suppressions off stderr, where a clean run prints nothing.
const LSAN_OPTIONS = [`suppressions=${path.join(__dirname, 'lsan.supp')}`, 'print_suppressions=0'].join(':');

module.exports = { ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS, ASAN_EXIT: 86, UBSAN_EXIT: 87 };
