// zlib with zalloc/zfree from the shim. The zlib is Node's own: its headers
// ship with Node's, and the node binary exports its symbols.
#include <zlib.h>

#include <cstring>
#include <unordered_map>
#include <vector>

#include "consumer.h"

namespace consumer {
namespace {

// What zlib asked of its hooks, kept apart from the shim (sizes by pointer in a
// map of our own), to compare with the shim's counters.
struct Hooks {
  explicit Hooks(const sysalloc_api* a) : api(a) {}
  const sysalloc_api* api;
  std::unordered_map<void*, uint64_t> sizes;
  uint64_t allocations = 0;
  uint64_t frees = 0;
  uint64_t live_bytes = 0;
  uint64_t peak_live_bytes = 0;
};

voidpf Zalloc(voidpf opaque, uInt items, uInt size) {
  Hooks* hooks = static_cast<Hooks*>(opaque);
  const uint64_t n = static_cast<uint64_t>(items) * size;  // uInt * uInt fits in 64 bits
  void* p = hooks->api->malloc(n);
  if (p != nullptr) {
    ++hooks->allocations;
    hooks->sizes[p] = n;
    hooks->live_bytes += n;
    if (hooks->live_bytes > hooks->peak_live_bytes) hooks->peak_live_bytes = hooks->live_bytes;
  }
  return p;
}

void Zfree(voidpf opaque, voidpf p) {
  Hooks* hooks = static_cast<Hooks*>(opaque);
  ++hooks->frees;
  auto it = hooks->sizes.find(p);
  if (it != hooks->sizes.end()) {
    hooks->live_bytes -= it->second;
    hooks->sizes.erase(it);
  }
  hooks->api->free(p);
}

uint64_t ShimLiveBytes(const sysalloc_api* api) {
  struct sysalloc_stats s;
  api->stats(&s);
  return s.live_bytes;
}

void Fail(Napi::Env env, const char* what, int code) {
  throw Napi::Error::New(env, std::string(what) + " failed: " + std::to_string(code));
}

// zlibRoundTrip(input: Buffer, level) -> { compressed, output, hooks and counters }
// Deflates input in 64 KiB pieces, inflates the result in 64 KiB pieces, both
// streams allocating through the shim. While each stream is open it reads the
// shim's live bytes, which the test compares with what the hooks saw.
Napi::Value ZlibRoundTrip(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const sysalloc_api* api = Api(env);
  Napi::Buffer<uint8_t> input = info[0].As<Napi::Buffer<uint8_t>>();
  const int level = info[1].As<Napi::Number>().Int32Value();
  constexpr size_t kPiece = 64 * 1024;

  Hooks deflate_hooks(api);
  z_stream d;
  std::memset(&d, 0, sizeof d);
  d.zalloc = Zalloc;
  d.zfree = Zfree;
  d.opaque = &deflate_hooks;
  const uint64_t live_before = ShimLiveBytes(api);
  int rc = deflateInit2(&d, level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) Fail(env, "deflateInit2", rc);
  const uint64_t live_in_deflate = ShimLiveBytes(api) - live_before;
  const uint64_t hooks_in_deflate = deflate_hooks.live_bytes;

  std::vector<uint8_t> compressed;
  std::vector<uint8_t> piece(kPiece);
  size_t offset = 0;
  int flush;
  do {
    const size_t take = std::min(kPiece, input.Length() - offset);
    d.next_in = input.Data() + offset;
    d.avail_in = static_cast<uInt>(take);
    offset += take;
    flush = offset == input.Length() ? Z_FINISH : Z_NO_FLUSH;
    do {
      d.next_out = piece.data();
      d.avail_out = static_cast<uInt>(piece.size());
      rc = deflate(&d, flush);
      if (rc == Z_STREAM_ERROR) Fail(env, "deflate", rc);
      compressed.insert(compressed.end(), piece.data(), piece.data() + (piece.size() - d.avail_out));
    } while (d.avail_out == 0);
  } while (flush != Z_FINISH);
  if (rc != Z_STREAM_END) Fail(env, "deflate to the end", rc);
  deflateEnd(&d);
  const uint64_t live_after_deflate = ShimLiveBytes(api) - live_before;

  Hooks inflate_hooks(api);
  z_stream f;
  std::memset(&f, 0, sizeof f);
  f.zalloc = Zalloc;
  f.zfree = Zfree;
  f.opaque = &inflate_hooks;
  rc = inflateInit2(&f, 15);
  if (rc != Z_OK) Fail(env, "inflateInit2", rc);
  std::vector<uint8_t> output;
  output.reserve(input.Length());
  f.next_in = compressed.data();
  f.avail_in = static_cast<uInt>(compressed.size());
  uint64_t live_in_inflate = 0;
  uint64_t hooks_in_inflate = 0;
  do {
    f.next_out = piece.data();
    f.avail_out = static_cast<uInt>(piece.size());
    rc = inflate(&f, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) Fail(env, "inflate", rc);
    output.insert(output.end(), piece.data(), piece.data() + (piece.size() - f.avail_out));
    // inflate allocates its window on the first call that produces output.
    live_in_inflate = ShimLiveBytes(api) - live_before;
    hooks_in_inflate = inflate_hooks.live_bytes;
  } while (rc != Z_STREAM_END);
  inflateEnd(&f);
  const uint64_t live_after_inflate = ShimLiveBytes(api) - live_before;

  Napi::Object out = Napi::Object::New(env);
  out.Set("compressedLength", static_cast<double>(compressed.size()));
  out.Set("output", Napi::Buffer<uint8_t>::Copy(env, output.data(), output.size()));
  out.Set("zlibVersion", zlibVersion());
  auto hooks = [&](const Hooks& h, uint64_t live_in_stream, uint64_t hooks_in_stream, uint64_t live_after) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("allocations", static_cast<double>(h.allocations));
    o.Set("frees", static_cast<double>(h.frees));
    o.Set("peakLiveBytes", static_cast<double>(h.peak_live_bytes));
    o.Set("hookLiveBytesWhileOpen", static_cast<double>(hooks_in_stream));
    o.Set("shimLiveBytesWhileOpen", static_cast<double>(live_in_stream));
    o.Set("shimLiveBytesAfterEnd", static_cast<double>(live_after));
    return o;
  };
  out.Set("deflate", hooks(deflate_hooks, live_in_deflate, hooks_in_deflate, live_after_deflate));
  out.Set("inflate", hooks(inflate_hooks, live_in_inflate, hooks_in_inflate, live_after_inflate));
  return out;
}

}  // namespace

void InitZlib(Napi::Env env, Napi::Object exports) {
  exports.Set("zlibRoundTrip", Napi::Function::New(env, ZlibRoundTrip, "zlibRoundTrip"));
}

}  // namespace consumer
