# Test-only: plugs the shim into zlib, SQLite and libuv. Built by the test
# scripts (build.js), never by a user's npm install, and not published.
# zlib is Node's own; SQLite is its amalgamation, compiled in from the copy that
# sqlite-source.js takes from an npm package, so no system SQLite is needed.
{
  "targets": [
    {
      "target_name": "shim_consumers",
      "sources": ["consumer.cc", "zlib.cc", "uv.cc", "threads.cc", "sqlite.cc"],
      "include_dirs": ["<!(node -p \"require('../..').includeDir\")", "<!(node sqlite-source.js)"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except", "sqlite3"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror"]
    },
    {
      "target_name": "sqlite3",
      "type": "static_library",
      "sources": ["<!(node sqlite-source.js)/sqlite3.c"],
      # SQLite's own code, not ours: its warnings are not this project's to fix.
      "cflags": ["-w", "-O2"],
      "cflags!": ["-Wall", "-Wextra", "-Werror"],
      "defines": ["SQLITE_THREADSAFE=1", "SQLITE_OMIT_LOAD_EXTENSION", "SQLITE_DEFAULT_MEMSTATUS=1"]
    }
  ]
}
