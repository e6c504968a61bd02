// CPU-emulator mapping of the vendor-neutral GPU layer (native/gpu/runtime.h), for tests: the kernels in
// kernels/gpu/ and native/gpu/backend_gpu.cpp compiled by g++ as C++, run by native/emu/runtime.cpp.
// Besides the layer's names this header gives the CUDA keywords and builtins the kernels use, so that
// they compile unchanged; the PTX wrappers come from native/emu/ptx.h (kernels/gpu/ptx.cuh picks it).
// The library built from it (libkernelport_gpu_emu.so) is loaded only when KERNELPORT_CUDA_LIBRARY
// names it; it is never a product backend.
#pragma once
#include <math.h>
#include <stdint.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "../emu/runtime.h"

typedef int kp_gpu_error_t;
typedef ::kp_emu::Stream* kp_gpu_stream_t;
typedef ::kp_emu::Event* kp_gpu_event_t;
#define kp_gpu_success 0
#define kp_gpu_not_ready 600
#define KP_GPU_VENDOR_NAME "CUDA (CPU emulator)"
// mma.sync, ldmatrix, cp.async, wgmma, TMA and mbarriers are emulated: every tensor-core path runs.
#define KP_GPU_VENDOR_HAS_MMA_SYNC 1
#define KP_GPU_HAS_MMA 1

#define KP_GPU_GLOBAL
#define KP_GPU_DEVICE
#define KP_GPU_HOST_DEVICE
#define KP_GPU_INLINE inline
#define KP_GPU_NOINLINE __attribute__((noinline))
#define KP_GPU_LAUNCH(kernel, grid, block, smem, stream) ::kp_emu_launcher((grid), (block), (smem), (stream)).run(kernel)
#define KP_GPU_LAUNCH_CLUSTER(kernel, grid, block, smem, stream, cluster) \
  ::kp_emu_launcher((grid), (block), (smem), (stream), (cluster)).run(kernel)
#define KP_GPU_LAUNCH_BOUNDS(threads)
#define KP_GPU_EXTERN_SMEM(type, name, align) type* const name = reinterpret_cast<type*>(::kp_emu::shared_arena())

// The CUDA spellings the kernels use directly. A block's static __shared__ arrays are statics: the
// emulator runs one block at a time.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __shared__ static
#define __launch_bounds__(...)
#define __grid_constant__
#define threadIdx (::kp_emu::thread_idx())
#define blockIdx (::kp_emu::block_idx())
#define blockDim (::kp_emu::block_dim())
#define gridDim (::kp_emu::grid_dim())

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

inline float __uint_as_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline float __int_as_float(int32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t __float_as_uint(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline int32_t __float_as_int(float f) { int32_t u; std::memcpy(&u, &f, 4); return u; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
// CUDA's fast division, with its documented edge: 2^126 < |b| < 2^128 gives 0 (NaN for an infinite a),
// so that tests on the emulator meet it too.
inline float __fdividef(float a, float b) {
  const float m = std::fabs(b);
  if (m > 0x1p126f && m <= std::numeric_limits<float>::max()) return std::isinf(a) ? std::numeric_limits<float>::quiet_NaN() : a * 0.0f;
  return a / b;
}
using std::max;
using std::min;

inline void __syncthreads() { ::kp_emu::sync_block(); }
inline int __syncthreads_or(int p) { return ::kp_emu::sync_block_or(p); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::kp_emu::sync_warp(); }
inline void __threadfence() {}  // one block runs at a time: every write is already visible to the next

namespace kp_emu {
struct ShflXor {
  unsigned lane_mask, width;
};
inline void combine_shfl_xor(const uint32_t* in, uint32_t* out, unsigned lanes, const void* ctx) {
  const ShflXor& s = *static_cast<const ShflXor*>(ctx);
  for (unsigned l = 0; l < lanes; ++l) {
    // A source lane outside the caller's group of `width` lanes (or past the warp) gives the caller's own value.
    const unsigned src = l ^ s.lane_mask;
    out[l * kWords] = src < lanes && src / s.width == l / s.width ? in[src * kWords] : in[l * kWords];
  }
}
static const bool shfl_xor_named = (name_collective(combine_shfl_xor, "shfl"), true);
// A 32-bit value through a warp collective: what each shuffle is, with its own combine.
template <class T>
inline T lane_exchange(T v, void (*combine)(const uint32_t*, uint32_t*, unsigned, const void*), const void* ctx) {
  static_assert(sizeof(T) == 4, "32-bit shuffles only");
  uint32_t in[kWords] = {}, out[kWords];
  std::memcpy(in, &v, 4);
  warp_collective(in, out, combine, ctx);
  T r;
  std::memcpy(&r, out, 4);
  return r;
}
template <class T>
inline T shfl_xor(T v, int lane_mask, int width) {
  const ShflXor s{static_cast<unsigned>(lane_mask), static_cast<unsigned>(width)};
  return lane_exchange(v, combine_shfl_xor, &s);
}
}  // namespace kp_emu

// width defaults to the warp, as warpSize does.
template <class T>
inline T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = 0) {
  return ::kp_emu::shfl_xor(v, lane_mask, width > 0 ? width : static_cast<int>(::kp_emu::warp_size()));
}

namespace kp_emu {
// Every lane takes lane `src`'s value (the whole warp: the kernels broadcast from lane 0 only).
inline void combine_shfl_from(const uint32_t* in, uint32_t* out, unsigned lanes, const void* ctx) {
  const unsigned src = *static_cast<const unsigned*>(ctx);
  for (unsigned l = 0; l < lanes; ++l) out[l * kWords] = in[(src < lanes ? src : l) * kWords];
}
static const bool shfl_from_named = (name_collective(combine_shfl_from, "shfl"), true);
}  // namespace kp_emu
template <class T>
inline T __shfl_sync(unsigned, T v, int src_lane) {
  const unsigned src = static_cast<unsigned>(src_lane);
  return ::kp_emu::lane_exchange(v, ::kp_emu::combine_shfl_from, &src);
}

namespace kp_emu {
inline void combine_any(const uint32_t* in, uint32_t* out, unsigned lanes, const void*) {
  uint32_t any = 0;
  for (unsigned l = 0; l < lanes; ++l) any |= in[l * kWords];
  for (unsigned l = 0; l < lanes; ++l) out[l * kWords] = any;
}
static const bool any_named = (name_collective(combine_any, "any"), true);
}  // namespace kp_emu

// Over the whole warp, as the kernels call it (member mask: every lane).
inline int __any_sync(unsigned, int p) {
  uint32_t in[::kp_emu::kWords] = {p != 0 ? 1u : 0u}, out[::kp_emu::kWords];
  ::kp_emu::warp_collective(in, out, ::kp_emu::combine_any, nullptr);
  return static_cast<int>(out[0]);
}

// ---- host ----------------------------------------------------------------------------------------
struct kp_emu_launcher {
  dim3 grid, block;
  size_t smem;
  ::kp_emu::Stream* stream;
  dim3 cluster;
  kp_emu_launcher(dim3 g, dim3 b, size_t s, ::kp_emu::Stream* st, dim3 c = dim3(1, 1, 1))
      : grid(g), block(b), smem(s), stream(st), cluster(c) {}
  template <class... P>
  struct Bound {
    kp_emu_launcher* l;
    void (*kernel)(P...);
    template <class... A>
    void operator()(A&&... args) {
      // The arguments are copied once, as a launch copies them to the device; every thread reads that copy.
      auto body = [k = kernel, tup = std::make_tuple(static_cast<P>(args)...)] { std::apply(k, tup); };
      ::kp_emu::launch_cluster(::kp_emu::Dim3{l->grid.x, l->grid.y, l->grid.z}, ::kp_emu::Dim3{l->block.x, l->block.y, l->block.z},
                               l->smem, ::kp_emu::Dim3{l->cluster.x, l->cluster.y, l->cluster.z}, body, l->stream);
    }
  };
  template <class... P>
  Bound<P...> run(void (*kernel)(P...)) {
    return Bound<P...>{this, kernel};
  }
};

inline kp_gpu_error_t kp_gpu_set_device(int i) { return i == 0 ? ::kp_emu::check_sticky() : 101; }
inline kp_gpu_error_t kp_gpu_device_count(int* n) {
  *n = 1;
  return 0;
}
inline kp_gpu_error_t kp_gpu_device_attribute(int* v, int attr, int) {
  *v = ::kp_emu::device_attribute(attr);
  return 0;
}
inline kp_gpu_error_t kp_gpu_mem_info(size_t* free_bytes, size_t* total) { return ::kp_emu::mem_info(free_bytes, total); }
inline kp_gpu_error_t kp_gpu_malloc(void** p, size_t bytes) { return ::kp_emu::malloc_device(p, bytes); }
inline kp_gpu_error_t kp_gpu_free(void* p) { return ::kp_emu::free_device(p); }
inline kp_gpu_error_t kp_gpu_malloc_host(void** p, size_t bytes) {
  *p = std::malloc(bytes);
  return *p ? 0 : 2;
}
inline kp_gpu_error_t kp_gpu_free_host(void* p) {
  std::free(p);
  return 0;
}
// Streams queue their work until a thread waits for them (runtime.h): the host always runs ahead.
inline kp_gpu_error_t kp_gpu_copy_(void* dst, const void* src, size_t n, kp_gpu_stream_t s) {
  if (int e = ::kp_emu::check_sticky()) return e;
  ::kp_emu::stream_enqueue(s, [=] {
    if (!::kp_emu::check_sticky()) std::memmove(dst, src, n);
  });
  return 0;
}
inline kp_gpu_error_t kp_gpu_memcpy_h2d_async(void* d, const void* s, size_t n, kp_gpu_stream_t st) { return kp_gpu_copy_(d, s, n, st); }
inline kp_gpu_error_t kp_gpu_memcpy_d2h_async(void* d, const void* s, size_t n, kp_gpu_stream_t st) { return kp_gpu_copy_(d, s, n, st); }
inline kp_gpu_error_t kp_gpu_memcpy_d2d_async(void* d, const void* s, size_t n, kp_gpu_stream_t st) { return kp_gpu_copy_(d, s, n, st); }
inline kp_gpu_error_t kp_gpu_memcpy2d_d2d_async(void* d, size_t dpitch, const void* s, size_t spitch, size_t width, size_t rows,
                                                kp_gpu_stream_t st) {
  if (int e = ::kp_emu::check_sticky()) return e;
  if (dpitch < width || spitch < width) return ::kp_emu::kInvalidValue;  // as cudaErrorInvalidPitchValue
  ::kp_emu::stream_enqueue(st, [=] {
    if (::kp_emu::check_sticky()) return;
    for (size_t r = 0; r < rows; ++r) std::memmove(static_cast<char*>(d) + r * dpitch, static_cast<const char*>(s) + r * spitch, width);
  });
  return 0;
}
inline kp_gpu_error_t kp_gpu_memset_async(void* dst, int v, size_t n, kp_gpu_stream_t st) {
  if (int e = ::kp_emu::check_sticky()) return e;
  ::kp_emu::stream_enqueue(st, [=] {
    if (!::kp_emu::check_sticky()) std::memset(dst, v, n);
  });
  return 0;
}
inline kp_gpu_error_t kp_gpu_stream_create(kp_gpu_stream_t* s) {
  if (int e = ::kp_emu::check_sticky()) return e;
  *s = ::kp_emu::stream_create();
  return 0;
}
inline kp_gpu_error_t kp_gpu_stream_destroy(kp_gpu_stream_t s) {
  ::kp_emu::stream_destroy(s);
  return 0;
}
inline kp_gpu_error_t kp_gpu_stream_sync(kp_gpu_stream_t s) { return ::kp_emu::stream_sync(s); }
inline kp_gpu_error_t kp_gpu_event_create(kp_gpu_event_t* e) {
  if (int err = ::kp_emu::check_sticky()) return err;
  *e = ::kp_emu::event_create();
  return 0;
}
inline kp_gpu_error_t kp_gpu_event_destroy(kp_gpu_event_t e) {
  ::kp_emu::event_destroy(e);
  return 0;
}
inline kp_gpu_error_t kp_gpu_event_record(kp_gpu_event_t e, kp_gpu_stream_t s) {
  if (int err = ::kp_emu::check_sticky()) return err;
  ::kp_emu::event_record(e, s);
  return 0;
}
inline kp_gpu_error_t kp_gpu_event_query(kp_gpu_event_t e) {
  if (int err = ::kp_emu::check_sticky()) return err;
  return ::kp_emu::event_done(e) ? 0 : kp_gpu_not_ready;
}
inline kp_gpu_error_t kp_gpu_last_error() { return ::kp_emu::take_last_error(); }
inline const char* kp_gpu_error_name(kp_gpu_error_t e) { return ::kp_emu::error_name(e); }
inline const char* kp_gpu_error_string(kp_gpu_error_t e) { return ::kp_emu::error_string(e); }
inline bool kp_gpu_error_is_oom(kp_gpu_error_t e) { return e == ::kp_emu::kMemoryAllocation; }
inline bool kp_gpu_error_is_sticky(kp_gpu_error_t e) { return ::kp_emu::error_is_sticky(e); }
template <class K>
inline kp_gpu_error_t kp_gpu_set_max_dynamic_smem(K*, int bytes) {
  return ::kp_emu::set_max_dynamic_smem(bytes);
}

// ---- device --------------------------------------------------------------------------------------
#define kp_gpu_sync_block() __syncthreads()
inline float kp_gpu_shfl_xor(float v, int lane_mask, int width) { return ::kp_emu::shfl_xor(v, lane_mask, width); }
inline unsigned kp_gpu_thread_x() { return threadIdx.x; }
inline unsigned kp_gpu_block_x() { return blockIdx.x; }
inline unsigned kp_gpu_block_y() { return blockIdx.y; }
inline unsigned kp_gpu_block_z() { return blockIdx.z; }
inline unsigned kp_gpu_block_dim_x() { return blockDim.x; }
inline unsigned kp_gpu_grid_dim_x() { return gridDim.x; }
inline unsigned kp_gpu_grid_dim_y() { return gridDim.y; }
inline unsigned kp_gpu_grid_dim_z() { return gridDim.z; }
#define kp_gpu_atomic_max_shared(p, v) (*(p) = std::max(*(p), (v)))
