#include "shim/shared.h"

#include "os.h"

namespace sysalloc {
namespace shim {
namespace {

const sysalloc_api* Choose() {
  const sysalloc_api* own = sysalloc_get_api();
#ifdef SYSALLOC_FAULT_INJECTION
  // A test build's fault switch acts on its own shim only: it neither joins
  // another copy's shim nor offers its own (test/faults.test.ts).
  return own;
#endif
  const sysalloc_api* first =
      static_cast<const sysalloc_api*>(os::Rendezvous("SYSALLOC_SHIM_TABLE", own));
  if (first == own || first == nullptr) return own;
  if (first->version < SYSALLOC_API_VERSION || first->size < sizeof(sysalloc_api)) return own;
  return first;
}

}  // namespace

const sysalloc_api* SharedApi() {
  static const sysalloc_api* const shared = Choose();
  return shared;
}

}  // namespace shim
}  // namespace sysalloc
