#include "shared_blocks.h"

#include <atomic>
#include <mutex>
#include <new>
#include <random>
#include <unordered_map>

namespace sysalloc {
namespace shared {

struct Region {
  os::Region memory;
  size_t align;
  uint32_t kind;
  Name name;
  uint64_t refs;  // guarded by Table::mutex
};

namespace {

struct Table {
  std::mutex mutex;
  std::unordered_map<uint64_t, Region*> by_id;
  uint64_t next_id = 1;
  uint64_t references = 0;
  // Keys straight from the OS's random source (std::random_device reads it on
  // every call): share() is not a hot path, and no seen key predicts another. Not
  // std::mt19937_64, whose instantiated members libstdc++ gives default
  // visibility: the addon would export them (scripts/check-exports.sh).
  std::random_device device;

  uint64_t NewKey() {
    uint64_t key;
    do key = (static_cast<uint64_t>(device()) << 32) | device(); while (key == 0);
    return key;
  }
};

Table& TheTable() {
  static Table* table = new Table();  // never destroyed: finalizers may run at exit, on any thread
  return *table;
}

}  // namespace

Region* Adopt(const os::Region& memory, size_t align, uint32_t kind) {
  Region* r = new (std::nothrow) Region{memory, align, kind, Name{0, 0}, 1};
  if (r == nullptr) return nullptr;
  Table& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mutex);
  r->name = Name{t.next_id++, t.NewKey()};
  try {
    t.by_id.emplace(r->name.id, r);
  } catch (...) {
    delete r;
    return nullptr;
  }
  ++t.references;
  return r;
}

Name NameOf(const Region* r) { return r->name; }
void* Data(const Region* r) { return r->memory.ptr; }
size_t Size(const Region* r) { return r->memory.size; }
size_t Align(const Region* r) { return r->align; }

Region* Open(uint64_t id, uint64_t key, uint32_t kind) {
  Table& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mutex);
  auto it = t.by_id.find(id);
  if (it == t.by_id.end() || it->second->name.key != key || (kind != kAnyKind && it->second->kind != kind)) {
    return nullptr;
  }
  ++it->second->refs;
  ++t.references;
  return it->second;
}

void Retain(Region* r) {
  Table& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mutex);
  ++r->refs;
  ++t.references;
}

bool Drop(Region* r, os::Region* out) {
  Table& t = TheTable();
  {
    std::lock_guard<std::mutex> lock(t.mutex);
    --t.references;
    if (--r->refs != 0) return false;
    t.by_id.erase(r->name.id);
  }
  *out = r->memory;
  delete r;
  return true;
}

void Count(uint64_t* regions, uint64_t* references) {
  Table& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mutex);
  *regions = t.by_id.size();
  *references = t.references;
}

}  // namespace shared
}  // namespace sysalloc
