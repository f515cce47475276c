{
  "targets": [
    {
      "target_name": "sysalloc",
      "sources": ["native/blocks.cc", "native/binding.cc", "native/binding_blocks.cc", "native/binding_pages.cc",
                  "native/binding_quarantine.cc", "native/binding_records.cc", "native/binding_runtime.cc", "native/binding_teardown.cc",
                  "native/binding_shim.cc",
                  "native/shared_blocks.cc", "native/shared_binding.cc", "native/shared_views.cc",
                  "native/debug/quarantine.cc", "native/debug/held_slots.cc", "native/debug/stderr_writer.cc", "native/debug/debug_binding.cc",
                  "native/shim/api.cc", "native/shim/granule_map.cc", "native/shim/large.cc",
                  "native/shim/segments.cc", "native/shim/shared.cc", "native/shim/spans.cc",
                  "native/shim/stats.cc", "native/shim/thread_cache.cc", "native/shim/tracking.cc"],
      "include_dirs": ["native"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: in a worker being terminated,
      # Node-API refuses to throw, and node-addon-api would then abort the whole
      # process (node-addon-api#975); test/worker-stress.test.ts terminates
      # workers while they load the addon.
      "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      # Hidden symbols: the addon exports only what Node looks up
      # (napi_register_module_v1, node_api_module_get_api_version_v1);
      # scripts/check-exports.sh checks it.
      "cflags": ["-fvisibility=hidden", "-fvisibility-inlines-hidden"],
      "conditions": [
        ["OS=='win'", {
          "sources": ["native/os_windows.cc", "native/debug/fault_catcher_windows.cc"]
        }, {
          "sources": ["native/os_posix.cc", "native/debug/fault_catcher_posix.cc", "native/libstdcxx_compat.cc"],
          "libraries": ["-ldl"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra"],
            "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
            "GCC_INLINES_ARE_PRIVATE_EXTERN": "YES"
          }
        }],
        # Warnings are errors only where the project asks (SYSALLOC_WERROR=1:
        # .ci/run, npm run prebuild), never in a user's source build, where a
        # newer compiler's new warning must not fail the install.
        ["<!(node -p \"process.env.SYSALLOC_WERROR === '1' ? 1 : 0\")==1", {
          "cflags_cc": ["-Werror"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-Werror"]}
        }]
      ]
    }
  ]
}
