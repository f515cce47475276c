# Test-only: the addon built again from the same native/ sources with the fault
# switch of native/fault.h (SYSALLOC_FAULT_INJECTION) and the `testing` exports
# of testing.cc (SYSALLOC_TESTING). test/asan/binding.gyp builds the same with
# AddressSanitizer and UBSan (a gyp file of its own: objects of sources outside
# a gyp file's folder land in one place for all its targets). Built by the test
# scripts (build.js), never by a user's npm install, and not published.
{
  "targets": [
    {
      "target_name": "sysalloc_testing",
      "sources": ["../../native/blocks.cc", "../../native/binding.cc", "../../native/binding_blocks.cc", "../../native/binding_pages.cc",
                  "../../native/binding_quarantine.cc", "../../native/binding_records.cc", "../../native/binding_runtime.cc", "../../native/binding_teardown.cc",
                  "../../native/binding_shim.cc", "../../native/shared_blocks.cc", "../../native/shared_binding.cc", "../../native/shared_views.cc",
                   "../../native/debug/quarantine.cc", "../../native/debug/held_slots.cc", "../../native/debug/stderr_writer.cc", "../../native/debug/debug_binding.cc",
                  "../../native/shim/api.cc", "../../native/shim/granule_map.cc", "../../native/shim/large.cc",
                  "../../native/shim/segments.cc", "../../native/shim/shared.cc", "../../native/shim/spans.cc",
                  "../../native/shim/stats.cc", "../../native/shim/thread_cache.cc", "../../native/shim/tracking.cc",
                  "testing.cc"],
      "include_dirs": ["../../native"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
                  "SYSALLOC_FAULT_INJECTION", "SYSALLOC_TESTING"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden", "-fvisibility-inlines-hidden"],
      "conditions": [
        ["OS=='win'", {
          "sources": ["../../native/os_windows.cc", "../../native/debug/fault_catcher_windows.cc"]
        }, {
          "sources": ["../../native/os_posix.cc", "../../native/debug/fault_catcher_posix.cc"], "libraries": ["-ldl"]
        }]
      ]
    }
  ]
}
