{
  "targets": [
    {
      "target_name": "sysalloc",
      "sources": ["native/blocks.cc", "native/shim.cc", "native/binding.cc"],
      "include_dirs": ["native"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: in a worker being terminated,
      # Node-API refuses to throw, and node-addon-api would then abort the whole
      # process (node-addon-api#975); test/worker-stress.test.ts terminates
      # workers while they load the addon.
      "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "conditions": [
        ["OS=='win'", {
          "sources": ["native/os_windows.cc"]
        }, {
          "sources": ["native/os_posix.cc"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra"]
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
