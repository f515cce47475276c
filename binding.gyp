{
  "targets": [
    {
      "target_name": "sysalloc",
      "sources": ["native/blocks.cc", "native/shim.cc", "native/binding.cc"],
      "include_dirs": ["native"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror"],
      "conditions": [
        ["OS=='win'", {
          "sources": ["native/os_windows.cc"]
        }, {
          "sources": ["native/os_posix.cc"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra", "-Werror"]
          }
        }]
      ]
    }
  ]
}
