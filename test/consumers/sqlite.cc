// The system's SQLite with SQLITE_CONFIG_MALLOC pointing at the shim.
#include <sqlite3.h>

#include <string>

#include "consumer.h"

namespace consumer {
namespace {

const sysalloc_api* g_sqlite_api = nullptr;
sqlite3_mem_methods g_saved_methods;
bool g_saved = false;
sqlite3* g_db = nullptr;

// SQLite's contract (sqlite3_mem_methods): xSize reports the size of an
// allocation, xRoundup the size xMalloc(n) would give. The shim records the
// size asked for, so rounding to 8 here (as SQLite's own memsys does) and
// asking for exactly that makes sqlite3_memory_used() sum the same bytes as
// the shim's live_bytes.
void* XMalloc(int n) { return g_sqlite_api->malloc(static_cast<size_t>(n)); }
void XFree(void* p) { g_sqlite_api->free(p); }
void* XRealloc(void* p, int n) { return g_sqlite_api->realloc(p, static_cast<size_t>(n)); }
int XSize(void* p) { return static_cast<int>(g_sqlite_api->usable_size(p)); }
int XRoundup(int n) { return (n + 7) & ~7; }
int XInit(void*) { return SQLITE_OK; }
void XShutdown(void*) {}

void Check(Napi::Env env, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw Napi::Error::New(env, std::string(what) + ": " + sqlite3_errstr(rc) +
                                    (g_db != nullptr ? std::string(" (") + sqlite3_errmsg(g_db) + ")" : ""));
  }
}

// sqliteInstall(): shuts SQLite down, points it at the shim, initialises it.
Napi::Value Install(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  g_sqlite_api = Api(env);
  Check(env, sqlite3_shutdown(), "sqlite3_shutdown");
  if (!g_saved) {
    Check(env, sqlite3_config(SQLITE_CONFIG_GETMALLOC, &g_saved_methods), "SQLITE_CONFIG_GETMALLOC");
    g_saved = true;
  }
  static sqlite3_mem_methods methods = {XMalloc, XFree, XRealloc, XSize, XRoundup, XInit, XShutdown, nullptr};
  Check(env, sqlite3_config(SQLITE_CONFIG_MALLOC, &methods), "SQLITE_CONFIG_MALLOC");
  Check(env, sqlite3_initialize(), "sqlite3_initialize");
  return env.Undefined();
}

// sqliteUninstall(): shuts SQLite down and gives it back its own allocator.
Napi::Value Uninstall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Check(env, sqlite3_shutdown(), "sqlite3_shutdown");
  if (g_saved) Check(env, sqlite3_config(SQLITE_CONFIG_MALLOC, &g_saved_methods), "SQLITE_CONFIG_MALLOC");
  return env.Undefined();
}

Napi::Value MemoryUsed(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sqlite3_memory_used()));
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_db != nullptr) throw Napi::Error::New(env, "already open");
  const std::string path = info[0].As<Napi::String>();
  const int rc = sqlite3_open_v2(path.c_str(), &g_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close(g_db);
    g_db = nullptr;
    Check(env, rc, "sqlite3_open_v2");
  }
  return env.Undefined();
}

sqlite3* Db(Napi::Env env) {
  if (g_db == nullptr) throw Napi::Error::New(env, "not open");
  return g_db;
}

Napi::Value Exec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string sql = info[0].As<Napi::String>();
  Check(env, sqlite3_exec(Db(env), sql.c_str(), nullptr, nullptr, nullptr), "sqlite3_exec");
  return env.Undefined();
}

// sqliteInsertRows(n): rows (i, 'name-<i>' padded to 1 + i % 97 chars, i * 3 % 1000, a blob of i % 300 bytes).
Napi::Value InsertRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sqlite3* db = Db(env);
  const int64_t rows = info[0].As<Napi::Number>().Int64Value();
  sqlite3_stmt* stmt = nullptr;
  Check(env, sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), "BEGIN");
  Check(env, sqlite3_prepare_v2(db, "INSERT INTO t(id, name, score, payload) VALUES (?, ?, ?, ?)", -1, &stmt, nullptr),
        "prepare");
  std::string blob(300, '\0');
  for (int64_t i = 0; i < rows; ++i) {
    std::string name = "name-" + std::to_string(i);
    name.resize(static_cast<size_t>(1 + i % 97), 'x');
    for (size_t k = 0; k < blob.size(); ++k) blob[k] = static_cast<char>((i + static_cast<int64_t>(k)) & 0xff);
    sqlite3_bind_int64(stmt, 1, i);
    sqlite3_bind_text(stmt, 2, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 3, i * 3 % 1000);
    sqlite3_bind_blob(stmt, 4, blob.data(), static_cast<int>(i % 300), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
      sqlite3_finalize(stmt);
      Check(env, rc, "insert");
    }
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  Check(env, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "COMMIT");
  return env.Undefined();
}

// sqliteQuery(sql) -> rows as arrays of numbers, strings or null.
Napi::Value Query(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string sql = info[0].As<Napi::String>();
  sqlite3_stmt* stmt = nullptr;
  Check(env, sqlite3_prepare_v2(Db(env), sql.c_str(), -1, &stmt, nullptr), "prepare");
  Napi::Array rows = Napi::Array::New(env);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const int columns = sqlite3_column_count(stmt);
    Napi::Array row = Napi::Array::New(env, columns);
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_INTEGER: row.Set(c, static_cast<double>(sqlite3_column_int64(stmt, c))); break;
        case SQLITE_FLOAT: row.Set(c, sqlite3_column_double(stmt, c)); break;
        case SQLITE_NULL: row.Set(c, env.Null()); break;
        default:
          row.Set(c, Napi::String::New(env, reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)),
                                       static_cast<size_t>(sqlite3_column_bytes(stmt, c))));
      }
    }
    rows.Set(rows.Length(), row);
  }
  sqlite3_finalize(stmt);
  Check(env, rc, "query");
  return rows;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int rc = sqlite3_close(Db(env));
  Check(env, rc, "sqlite3_close");
  g_db = nullptr;
  return env.Undefined();
}

}  // namespace

void InitSqlite(Napi::Env env, Napi::Object exports) {
  exports.Set("sqliteInstall", Napi::Function::New(env, Install, "sqliteInstall"));
  exports.Set("sqliteUninstall", Napi::Function::New(env, Uninstall, "sqliteUninstall"));
  exports.Set("sqliteMemoryUsed", Napi::Function::New(env, MemoryUsed, "sqliteMemoryUsed"));
  exports.Set("sqliteOpen", Napi::Function::New(env, Open, "sqliteOpen"));
  exports.Set("sqliteExec", Napi::Function::New(env, Exec, "sqliteExec"));
  exports.Set("sqliteInsertRows", Napi::Function::New(env, InsertRows, "sqliteInsertRows"));
  exports.Set("sqliteQuery", Napi::Function::New(env, Query, "sqliteQuery"));
  exports.Set("sqliteClose", Napi::Function::New(env, Close, "sqliteClose"));
  exports.Set("sqliteVersion", Napi::String::New(env, sqlite3_libversion()));
}

}  // namespace consumer
