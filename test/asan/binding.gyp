# Test-only, Linux only: the testing addon of test/faults built with
# AddressSanitizer and UBSan (gcc ships both runtimes with g++), for
# test/asan.test.ts, which runs its deliberate bugs in a child node with the ASan
# runtime preloaded. Built by test/faults/build.js; not published. Windows
# (mingw-w64) has no ASan, so there this file has no target.
{
  "targets": [],
  "conditions": [
    ["OS=='linux'", {
      "targets": [
        {
          "target_name": "sysalloc_testing_asan",
          "sources": ["../../native/blocks.cc", "../../native/binding.cc", "../../native/binding_blocks.cc", "../../native/binding_pages.cc",
                      "../../native/binding_quarantine.cc", "../../native/binding_records.cc", "../../native/binding_runtime.cc", "../../native/binding_teardown.cc",
                      "../../native/binding_shim.cc", "../../native/shared_blocks.cc", "../../native/shared_binding.cc", "../../native/shared_views.cc",
                       "../../native/debug/quarantine.cc", "../../native/debug/held_slots.cc", "../../native/debug/stderr_writer.cc", "../../native/debug/debug_binding.cc",
                      "../../native/shim/api.cc", "../../native/shim/granule_map.cc", "../../native/shim/large.cc",
                      "../../native/shim/segments.cc", "../../native/shim/shared.cc", "../../native/shim/spans.cc",
                      "../../native/shim/stats.cc", "../../native/shim/thread_cache.cc", "../../native/shim/tracking.cc",
                      "../../native/os_posix.cc", "../../native/debug/fault_catcher_posix.cc", "../faults/testing.cc"],
          "include_dirs": ["../../native"],
          "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
          "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
                      "SYSALLOC_FAULT_INJECTION", "SYSALLOC_TESTING"],
          "cflags": ["-O1", "-g", "-fno-omit-frame-pointer",
                     "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
          "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden", "-fvisibility-inlines-hidden"],
          "ldflags": ["-fsanitize=address,undefined"]
        }
      ]
    }]
  ]
}
