# Test-only: plugs the shim into zlib, SQLite and libuv. Built by the test
# scripts (build.js), never by a user's npm install, and not published.
# SQLite is the system's (Debian: libsqlite3-dev); a Windows build has none, so
# it leaves the SQLite consumer out (sqliteInstall and the rest are then absent).
{
  "targets": [
    {
      "target_name": "shim_consumers",
      "sources": ["consumer.cc", "zlib.cc", "uv.cc", "threads.cc"],
      "include_dirs": ["<!(node -p \"require('../..').includeDir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror"],
      "conditions": [
        ["OS!='win'", {
          "sources": ["sqlite.cc"],
          "defines": ["CONSUMER_SQLITE"],
          "libraries": ["-lsqlite3"]
        }]
      ]
    }
  ]
}
