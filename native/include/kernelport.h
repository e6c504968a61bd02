/*
 * kernelport C ABI.
 *
 * A plain, versioned C interface to the kernelport native core. The Node addon is one client of it;
 * a C or C++ framework can link the core library directly.
 *
 * Model: a device owns one in-order queue. Ops (kp_matmul, kp_attention, kp_buffer_read_async)
 * are enqueued and return at once; they run on the device's queue thread in submission order.
 * Buffers are reference counted: an enqueued op keeps its buffers alive, so releasing a buffer
 * that an op still uses is safe (the memory goes when the op is done).
 *
 * Arguments are validated by the caller's op spec (the TypeScript layer does it for Node users);
 * the core still checks every descriptor against the sizes of the buffers it is given before any
 * kernel runs, so a bad descriptor is an error, never an out-of-bounds access.
 *
 * Errors: every call returns a kp_status; kp_last_error() gives a thread-local message for the
 * last failing call on this thread. An op that fails on the queue marks its output buffers with
 * the error; reading such a buffer, or using it as an input, reports that error.
 */
#ifndef KERNELPORT_H
#define KERNELPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define KP_API __declspec(dllexport)
#else
#define KP_API __attribute__((visibility("default")))
#endif

/* Bumped on any incompatible change to a struct or signature below. */
#define KP_ABI_VERSION 1

#define KP_MAX_BATCH_DIMS 8

typedef enum kp_status {
  KP_OK = 0,
  KP_ERR_INVALID_ARGUMENT = 1,
  KP_ERR_OUT_OF_MEMORY = 2,
  KP_ERR_UNSUPPORTED = 3,
  KP_ERR_UNAVAILABLE = 4, /* backend or driver missing */
  KP_ERR_BAD_BUFFER = 5,  /* buffer too small, released, or from another device */
  KP_ERR_INTERNAL = 6
} kp_status;

typedef enum kp_dtype {
  KP_F32 = 0,
  KP_F16 = 1,
  KP_BF16 = 2,
  KP_I32 = 3 /* only for attention kv_lengths */
} kp_dtype;

typedef enum kp_activation {
  KP_ACT_NONE = 0,
  KP_ACT_RELU = 1,
  KP_ACT_GELU = 2,      /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
  KP_ACT_GELU_TANH = 3, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
  KP_ACT_SILU = 4       /* x / (1 + exp(-x)) */
} kp_activation;

typedef enum kp_causal {
  KP_CAUSAL_NONE = 0,
  KP_CAUSAL_BOTTOM_RIGHT = 1, /* query i sees key j iff j <= i + kv_len_b - sq (FlashAttention) */
  KP_CAUSAL_TOP_LEFT = 2      /* query i sees key j iff j <= i (PyTorch SDPA is_causal) */
} kp_causal;

typedef enum kp_layout {
  KP_LAYOUT_BHSD = 0,
  KP_LAYOUT_BSHD = 1
} kp_layout;

/* CPU feature bits, from cpuid and XCR0 (a feature counts only when the OS saves its registers). */
enum {
  KP_CPU_SSE2 = 1u << 0,
  KP_CPU_AVX = 1u << 1,
  KP_CPU_AVX2 = 1u << 2,
  KP_CPU_FMA = 1u << 3,
  KP_CPU_F16C = 1u << 4,
  KP_CPU_AVX512F = 1u << 5,
  KP_CPU_AVX512BW = 1u << 6,
  KP_CPU_AVX512VL = 1u << 7,
  KP_CPU_AVX512BF16 = 1u << 8,
  KP_CPU_AVX512FP16 = 1u << 9,
  KP_CPU_AMX = 1u << 10,
  KP_CPU_NEON = 1u << 16,
  KP_CPU_ASIMDHP = 1u << 17, /* ARMv8.2 half precision arithmetic */
  KP_CPU_SVE = 1u << 18
};

typedef struct kp_cpu_info {
  char vendor[16];  /* "GenuineIntel", "AuthenticAMD", "HygonGenuine", "arm", ... */
  char model[64];
  char arch[16];    /* "x86_64" | "aarch64" | ... */
  uint32_t features;      /* KP_CPU_* bits usable by this process */
  int32_t logical_cores;  /* online in the machine */
  int32_t usable_cores;   /* this process may use: affinity mask and cgroup CPU quota */
  int64_t l1d_bytes, l2_bytes, l3_bytes; /* 0 when unknown */
  int64_t memory_bytes;   /* physical memory, or the cgroup memory limit when that is lower */
  char isa[16];           /* kernel path the cpu backend runs: "avx512" | "avx2" | "neon" | "generic" */
} kp_cpu_info;

typedef struct kp_device kp_device;
typedef struct kp_buffer kp_buffer;

/* Called on the queue thread when an asynchronous op completes; status is that op's result. message is
 * valid only during the call. A callback may enqueue ops, but the blocking calls (kp_device_sync,
 * kp_buffer_read, kp_device_close, kp_buffer_write into a buffer queued ops use) would wait for the
 * thread the callback runs on: there they fail with KP_ERR_INVALID_ARGUMENT instead. */
typedef void (*kp_callback)(void* user, kp_status status, const char* message);

/* out = act(alpha * op(A) op(B) + bias) + beta * residual, all batch dims broadcast already resolved:
 * Fields are taken literally, with no defaults: a zeroed descriptor has alpha = beta = 0 (set alpha = 1,
 * and beta = 1 for a plain residual add; the TypeScript API fills those defaults in). alpha and beta
 * must be finite; flags (trans_*, has_*) 0 or 1. out must be a buffer that none of a, b, bias, residual is.
 * batch_shape is the output's batch shape and the *_batch_stride arrays give each operand's element
 * stride per batch dim (0 where that operand is broadcast). A is [M,K] row-major ([K,M] with trans_a),
 * B is [K,N] ([N,K] with trans_b). The output is contiguous [batch..., M, N]. */
typedef struct kp_matmul_desc {
  uint32_t struct_size; /* sizeof(kp_matmul_desc), for forward compatibility */
  kp_dtype dtype;       /* of A and B */
  kp_dtype out_dtype;
  int32_t trans_a, trans_b;
  int64_t m, n, k;
  int32_t batch_rank;
  int64_t batch_shape[KP_MAX_BATCH_DIMS];
  int64_t a_batch_stride[KP_MAX_BATCH_DIMS];
  int64_t b_batch_stride[KP_MAX_BATCH_DIMS];
  float alpha, beta;
  kp_activation activation;
  int32_t has_bias;     /* bias [N] */
  kp_dtype bias_dtype;
  int32_t has_residual; /* residual element (batch, i, j) at sum(r_batch_stride*idx) + i*r_row_stride + j*r_col_stride */
  kp_dtype residual_dtype;
  int64_t r_batch_stride[KP_MAX_BATCH_DIMS];
  int64_t r_row_stride, r_col_stride;
  /* Second revision of the descriptor (a caller built against the first passes its smaller struct_size
   * and gets 0 here): at most this many threads run the op (cpu; 0 = the device's; autotuning sets it).
   * The result is bitwise identical for any value. GPU backends ignore it. */
  int32_t max_threads;
  /* Second revision too (max_threads and allow_tf32 arrived together: no released header has one
   * without the other): 1 lets f32 inputs be rounded to TF32 on tensor cores (cuda sm_80+); 0 (the
   * default) keeps full f32. Backends without a TF32 path ignore it. */
  int32_t allow_tf32;
  /* Third revision: the kernel a GPU backend (cuda, musa) runs, where the op and the device allow it;
   * 0 = the backend's own choice, which any other value that cannot run falls back to (dev.explain()
   * names what runs). Autotuning sets them per shape class; the KERNELPORT_GPU_GEMM and
   * KERNELPORT_GPU_GEMM_SPLITK environment variables set them for every op (a non-zero field here wins).
   * gpu_kernel: 1 SIMT (portable), 2 mma.sync (sm_80+), 3 wgmma (sm_90a), 4 wgmma in 2-block clusters,
   * 5 wgmma in 2 x 2 clusters. gpu_split_k: 1 never split K, 2..64 split it that many ways (wgmma,
   * batch 1). Results stay within the op's error bound, not bitwise equal across kernels. cpu ignores them. */
  int32_t gpu_kernel;
  int32_t gpu_split_k;
} kp_matmul_desc;

/* Scaled dot-product attention. Shapes (bhsd): q [B,Hq,Sq,D], k [B,Hkv,Skv,D], v [B,Hkv,Skv,Dv],
 * out [B,Hq,Sq,Dv]; bshd swaps the S and H axes of all four. lse is [B,Hq,Sq] f32.
 * GQA: query head h reads kv head h / (Hq / Hkv) (consecutive query heads share one kv head).
 * scale is applied as given (finite; the TypeScript API defaults it to 1/sqrt(D)). out and lse must be
 * buffers that no input (nor each other) is.
 * kv_lengths: i32 [B]; keys at or beyond kv_lengths[b] are masked, and bottom-right causal aligns to it.
 * mask: additive f32, element (b,h,i,j) at mask_stride . (b,h,i,j) (0 strides broadcast).
 * A row with every key masked yields 0 (and lse = -inf). */
typedef struct kp_attention_desc {
  uint32_t struct_size;
  kp_dtype dtype; /* of q, k, v */
  kp_dtype out_dtype;
  kp_layout layout;
  int64_t batch, hq, hkv, sq, skv, d, dv;
  float scale;
  kp_causal causal;
  int32_t has_kv_lengths;
  int32_t has_mask;
  int64_t mask_stride[4];
  int32_t return_lse;
  /* Second revision, as in kp_matmul_desc: at most this many threads (cpu; 0 = the device's). */
  int32_t max_threads;
  /* 0 or 1. Was `reserved` (set to 0) in the second revision, which it keeps the size of: the padding after
     return_lse held max_threads' bytes, so only the size tells the first revision from the second.
     1 (f16/bf16 only; ignored for f32) lets a backend round the softmax probabilities P to the input
     dtype before the P.V product, as FlashAttention does; the bound then has one rounding of that type. */
  int32_t allow_p16;
  /* Third revision, as in kp_matmul_desc (KERNELPORT_GPU_ATTENTION, KERNELPORT_GPU_ATTENTION_KEYS):
   * gpu_kernel: 1 portable (SIMT, split-KV decoding included), 2 mma.sync (sm_80+), 3 wgmma (sm_90a).
   * gpu_key_tile: 64 keeps the wgmma allowP16 kernel on 64-key tiles where its own choice is 128. */
  int32_t gpu_kernel;
  int32_t gpu_key_tile;
} kp_attention_desc;

KP_API uint32_t kp_abi_version(void);
KP_API const char* kp_version(void);
KP_API const char* kp_status_string(kp_status status);
/* Message for the last failing call on this thread ("" if none). Valid until the next call. */
KP_API const char* kp_last_error(void);

KP_API kp_status kp_cpu_probe(kp_cpu_info* out);

/* backend: "cpu" (or NULL), "cuda" / "cuda:N" (device N; loads the cuda backend library on first use),
 * "musa" / "musa:N". A device may be used from several threads: ops are queued in call order.
 * threads (cpu only) <= 0: the process's usable cores (or KERNELPORT_NUM_THREADS). */
KP_API kp_status kp_device_open(const char* backend, int32_t threads, kp_device** out);
/* Waits for the queue to drain, then frees the device. Buffers still referenced stay valid until released. */
KP_API kp_status kp_device_close(kp_device* dev);
/* Blocks until every op enqueued so far has run. Returns the first error raised since the last sync. */
KP_API kp_status kp_device_sync(kp_device* dev);
/* Non-blocking sync: done(user, status, message) runs on the queue thread after every op enqueued so far,
 * with the first error raised since the last sync (which it clears). */
KP_API kp_status kp_device_sync_async(kp_device* dev, kp_callback done, void* user);
KP_API int32_t kp_device_threads(const kp_device* dev);
/* Ops enqueued and not yet finished (for tests that prove the queue is asynchronous). */
KP_API int64_t kp_device_pending(const kp_device* dev);

/* Uninitialised device memory. Fails with KP_ERR_OUT_OF_MEMORY when the size cannot be had. */
KP_API kp_status kp_buffer_create(kp_device* dev, size_t bytes, kp_buffer** out);
KP_API size_t kp_buffer_size(const kp_buffer* buf);
/* Drops the caller's reference; queued ops that use the buffer keep it alive until they finish. */
KP_API void kp_buffer_release(kp_buffer* buf);
/* Synchronous upload. Ordered after the queued ops that use the buffer: when there are any, the call
 * first waits for the queue to drain (so updating a KV cache or kv_lengths between ops is safe); into a
 * buffer no queued op uses (a fresh one) it copies at once. Ops enqueued after it see the new data. */
KP_API kp_status kp_buffer_write(kp_buffer* buf, size_t offset, const void* src, size_t bytes);
/* Enqueues a copy of `bytes` from src (at src_offset) into dst (at dst_offset), both buffers of one
 * device: ordered after every earlier op and before every later one, like an op (a buffer marked with an
 * error passes it on). Overlapping ranges of one buffer are refused. For a KV cache fed by a projection
 * on the device: no round trip through the host. */
KP_API kp_status kp_buffer_copy(kp_buffer* dst, size_t dst_offset, kp_buffer* src, size_t src_offset, size_t bytes);
/* The same for `rows` runs of `row_bytes`, src_stride and dst_stride bytes apart (a dst_stride under
 * row_bytes is refused when rows > 1: the runs written would overlap), as one enqueued copy: one token
 * of every head into a [B, H, Smax, D] KV cache. Within one buffer the spans must not meet. */
KP_API kp_status kp_buffer_copy_rows(kp_buffer* dst, size_t dst_offset, size_t dst_stride, kp_buffer* src, size_t src_offset,
                                     size_t src_stride, size_t row_bytes, size_t rows);
/* Enqueues a copy out to dst after every earlier op; done(user, status, message) runs on the queue thread.
 * dst must stay valid until done is called. A buffer marked with an error reports it here. */
KP_API kp_status kp_buffer_read_async(kp_buffer* buf, size_t offset, void* dst, size_t bytes, kp_callback done,
                                      void* user);
/* Blocking read: waits for the ops before it. */
KP_API kp_status kp_buffer_read(kp_buffer* buf, size_t offset, void* dst, size_t bytes);

/* Buffers alive in this process (all devices) and their bytes: for leak checks and memory accounting. */
KP_API void kp_memory_stats(int64_t* live_buffers, int64_t* live_bytes);
/* Bytes of freed cpu buffers held for reuse (64 KiB and more, reused at the same size; at most 1 GiB or
 * an eighth of memory; KERNELPORT_CPU_CACHE_BYTES sets the cap, 0 turns it off). Given back when a cpu
 * device closes. Counted apart from live_bytes, so a leak check can tell the cache from a leak. */
KP_API int64_t kp_memory_cached_bytes(void);

/* Enqueue ops. bias and residual may be NULL when the descriptor says they are absent.
 * desc->struct_size: sizeof the caller's descriptor. An older, smaller descriptor is accepted (the
 * fields it lacks read as 0); anything smaller than the first released version's is refused. */
KP_API kp_status kp_matmul(kp_device* dev, const kp_matmul_desc* desc, kp_buffer* a, kp_buffer* b, kp_buffer* bias,
                           kp_buffer* residual, kp_buffer* out);
/* The kernel variant `desc` would run with on this device, as the backend's own planner chooses it (GPU
 * backends: compute capability, warp size, shared memory, KERNELPORT_GPU_* settings), written to `out`
 * (NUL-terminated, truncated to cap). op 0: desc is a kp_matmul_desc, 1: a kp_attention_desc (struct_size
 * as for the ops; no buffers are needed, 16-byte aligned operands are assumed). Backends without a native
 * planner (cpu) write "". */
KP_API kp_status kp_explain(kp_device* dev, int32_t op, const void* desc, char* out, size_t cap);
KP_API kp_status kp_attention(kp_device* dev, const kp_attention_desc* desc, kp_buffer* q, kp_buffer* k,
                              kp_buffer* v, kp_buffer* kv_lengths, kp_buffer* mask, kp_buffer* out,
                              kp_buffer* lse);


/* ---- GPU backends (cuda, musa): probing and lazy loading ------------------------------------------
 *
 * GPU backends live in their own shared libraries (libkernelport_cuda.so next to this library). The
 * core never links a GPU runtime: kp_gpu_probe dlopens the vendor driver (libcuda.so.1) and asks it,
 * through the driver API, how many devices there are and what they are; the backend library itself
 * is dlopened only when the driver loads and reports at least one device (kp_gpu_backend_load, and
 * kp_device_open("cuda" | "cuda:N")). Without a driver both return KP_ERR_UNAVAILABLE and
 * kp_last_error() gives the exact reason (the dlopen message, or the driver's error).
 * "musa" works the same way with libmusa.so and libkernelport_musa.so; where neither is present but
 * the emulated musa library (libkernelport_musa_emulated.so, built with nvcc) is, musa devices are the
 * CUDA driver's devices, marked emulated. */

typedef struct kp_gpu_info {
  uint32_t struct_size;     /* the caller sets sizeof(kp_gpu_info) */
  int32_t index;            /* device ordinal: "cuda:<index>" */
  char name[256];           /* "NVIDIA H20" */
  char arch[16];            /* "sm_90" */
  int32_t cc_major, cc_minor;
  int32_t multiprocessors;
  int32_t warp_size;        /* read from the device, never assumed */
  int64_t memory_bytes;
  int32_t clock_khz;        /* SM clock the driver reports (boost) */
  int32_t memory_clock_khz; /* peak memory clock */
  int32_t bus_width_bits;
  int32_t pci_bus;
  int64_t l2_bytes;
  int64_t shared_per_block_optin;
  int32_t driver_version;   /* e.g. 13000 */
  /* Added after the first release, in what was tail padding (sizeof is unchanged): read it only when
   * struct_size covers it. 1: a "musa" device that is an NVIDIA GPU running the MUSA build through the
   * test-only CUDA mapping (libkernelport_musa_emulated.so); arch is then the NVIDIA one (sm_XX). */
  int32_t emulated;
} kp_gpu_info;

/* backend: "cuda". On KP_OK, *count is the number of devices and out[0 .. min(count, cap)) describe
 * them (out may be NULL when cap is 0). KP_ERR_UNAVAILABLE with the reason when the driver is absent,
 * fails to initialise or reports no device. Never loads the backend library. */
KP_API kp_status kp_gpu_probe(const char* backend, kp_gpu_info* out, int32_t cap, int32_t* count);

/* Loads the backend library (after a successful driver probe) and checks its ABI version. On KP_OK,
 * variants (if not NULL) receives the comma-separated kernel variants compiled into it. */
KP_API kp_status kp_gpu_backend_load(const char* backend, char* variants, size_t cap);

/* ---- calibration: this machine's measured peaks (for roofline percentages) ---------------------- */

#define KP_CPU_PEAK_MAX_ISA 4

typedef struct kp_cpu_isa_peak {
  char isa[16];     /* "avx512" | "avx2" | "neon" | "generic" */
  double flops_f32; /* FLOP/s of that path's FMA-throughput kernel, all threads (an FMA counts 2) */
} kp_cpu_isa_peak;

typedef struct kp_cpu_peaks {
  uint32_t struct_size; /* the caller sets sizeof(kp_cpu_peaks) */
  int32_t threads;      /* threads measured with */
  int32_t n_isa;
  kp_cpu_isa_peak isa[KP_CPU_PEAK_MAX_ISA]; /* each kernel path this CPU and build support, best first */
  char active_isa[16];  /* the path the cpu backend runs (KERNELPORT_CPU_ISA honoured) */
  double flops_f32;     /* peak f32 FLOP/s of the active path, all threads */
  double read_bandwidth;/* bytes/s of a streaming read over buffer_bytes (>= 4 x L3), all threads */
  int64_t buffer_bytes;
  double seconds;       /* wall time the calibration took */
} kp_cpu_peaks;

/* Measures peak FMA throughput per ISA path (independent accumulator chains on every thread) and
 * streaming-read bandwidth. threads <= 0: the process's usable cores. seconds: time per measurement
 * (<= 0: 0.5 s); the whole call takes about (n_isa + 1) x seconds. Blocks the calling thread. */
KP_API kp_status kp_cpu_calibrate(int32_t threads, double seconds, kp_cpu_peaks* out);

#ifdef __cplusplus
}
#endif

#endif /* KERNELPORT_H */
