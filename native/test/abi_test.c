/* Drives the C ABI the way a C framework would: open, upload, matmul + attention, read back,
 * compare with a naive double-precision loop, and check that a bad descriptor is refused with a
 * message. Prints "N passed, N failed" and exits non-zero on any failure. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernelport.h"

static int passed, failed;

static void check(int ok, const char* what) {
  if (ok) passed++;
  else {
    failed++;
    printf("FAIL: %s (last error: %s)\n", what, kp_last_error());
  }
}

/* An op's status and output: it ran, and its buffer reads back bitwise as `want` (`got` cleared first). */
static int ran_as(kp_status s, kp_buffer* out, void* got, const void* want, size_t bytes) {
  memset(got, 0, bytes);
  return s == KP_OK && kp_buffer_read(out, 0, got, bytes) == KP_OK && memcmp(got, want, bytes) == 0;
}

/* Refused as an invalid argument, with a message that names `about`. */
static int refused(kp_status s, const char* about) { return s == KP_ERR_INVALID_ARGUMENT && strstr(kp_last_error(), about) != NULL; }

static kp_buffer* upload(kp_device* dev, const void* data, size_t bytes) {
  kp_buffer* b = NULL;
  if (kp_buffer_create(dev, bytes, &b) != KP_OK) return NULL;
  kp_buffer_write(b, 0, data, bytes);
  return b;
}

static float frand(unsigned* s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void test_matmul(kp_device* dev) {
  enum { M = 37, K = 61, N = 29 };
  static float a[M * K], b[K * N], bias[N], out[M * N];
  unsigned seed = 1;
  for (int i = 0; i < M * K; i++) a[i] = frand(&seed);
  for (int i = 0; i < K * N; i++) b[i] = frand(&seed);
  for (int i = 0; i < N; i++) bias[i] = frand(&seed);
  kp_buffer *ba = upload(dev, a, sizeof a), *bb = upload(dev, b, sizeof b), *bbias = upload(dev, bias, sizeof bias), *bo = NULL;
  kp_buffer_create(dev, sizeof out, &bo);
  kp_matmul_desc d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = d.out_dtype = KP_F32;
  d.m = M, d.n = N, d.k = K;
  d.alpha = 1.0f;
  d.activation = KP_ACT_RELU;
  d.has_bias = 1, d.bias_dtype = KP_F32;
  check(kp_matmul(dev, &d, ba, bb, bbias, NULL, bo) == KP_OK, "matmul enqueues");
  check(kp_buffer_read(bo, 0, out, sizeof out) == KP_OK, "matmul result reads back");
  double worst = 0;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = bias[j];
      for (int p = 0; p < K; p++) s += (double)a[i * K + p] * b[p * N + j];
      if (s < 0) s = 0;
      double e = fabs(s - out[i * N + j]);
      if (e > worst) worst = e;
    }
  check(worst < 1e-4, "matmul matches the double-precision loop");

  /* A descriptor that asks for more than the buffers hold is refused before any kernel runs. */
  d.m = M + 1;
  check(kp_matmul(dev, &d, ba, bb, bbias, NULL, bo) == KP_ERR_BAD_BUFFER, "oversized descriptor is refused");
  check(strstr(kp_last_error(), "bytes") != NULL, "refusal says how many bytes");
  d.m = (int64_t)1 << 62;
  check(kp_matmul(dev, &d, ba, bb, bbias, NULL, bo) == KP_ERR_INVALID_ARGUMENT, "overflowing size is refused");
  kp_buffer_release(ba), kp_buffer_release(bb), kp_buffer_release(bbias), kp_buffer_release(bo);
}

static void test_attention(kp_device* dev) {
  enum { S = 13, SK = 29, D = 16 };
  static float q[S * D], k[SK * D], v[SK * D], out[S * D];
  unsigned seed = 7;
  for (int i = 0; i < S * D; i++) q[i] = frand(&seed);
  for (int i = 0; i < SK * D; i++) k[i] = frand(&seed), v[i] = frand(&seed);
  kp_buffer *bq = upload(dev, q, sizeof q), *bk = upload(dev, k, sizeof k), *bv = upload(dev, v, sizeof v), *bo = NULL;
  kp_buffer_create(dev, sizeof out, &bo);
  kp_attention_desc d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = d.out_dtype = KP_F32;
  d.batch = 1, d.hq = 1, d.hkv = 1, d.sq = S, d.skv = SK, d.d = D, d.dv = D;
  d.scale = 0.25f;
  d.causal = KP_CAUSAL_BOTTOM_RIGHT;
  check(kp_attention(dev, &d, bq, bk, bv, NULL, NULL, bo, NULL) == KP_OK, "attention enqueues");
  check(kp_device_sync(dev) == KP_OK, "sync");
  check(kp_buffer_read(bo, 0, out, sizeof out) == KP_OK, "attention result reads back");
  double worst = 0;
  for (int i = 0; i < S; i++) {
    double sc[SK], m = -INFINITY, l = 0;
    int last = i + SK - S;
    for (int j = 0; j <= last; j++) {
      double s = 0;
      for (int c = 0; c < D; c++) s += (double)q[i * D + c] * k[j * D + c];
      sc[j] = s * 0.25;
      if (sc[j] > m) m = sc[j];
    }
    for (int j = 0; j <= last; j++) l += exp(sc[j] - m);
    for (int c = 0; c < D; c++) {
      double o = 0;
      for (int j = 0; j <= last; j++) o += exp(sc[j] - m) / l * v[j * D + c];
      double e = fabs(o - out[i * D + c]);
      if (e > worst) worst = e;
    }
  }
  check(worst < 1e-5, "causal attention matches the double-precision loop");
  kp_buffer_release(bq), kp_buffer_release(bk), kp_buffer_release(bv), kp_buffer_release(bo);
}

/* max_threads caps the threads of one op: the output is bitwise identical for every cap. A caller
 * built against the first header passes the smaller struct_size; the fields it lacks read as 0, so
 * whatever lies in its memory past its struct is never read. */
/* kp_buffer_copy_rows: one token of every head into a [H, S, D] cache, and what it refuses. */
static void test_copy_rows(kp_device* dev) {
  enum { H = 3, S = 4, D = 2 };
  float token[H * D], cache[H * S * D];
  for (int i = 0; i < H * D; i++) token[i] = (float)(i + 1);
  for (int i = 0; i < H * S * D; i++) cache[i] = -1.0f;
  kp_buffer* bt = upload(dev, token, sizeof token);
  kp_buffer* bc = upload(dev, cache, sizeof cache);
  const size_t row = D * sizeof(float), at = 2;  /* position 2 of each head */
  check(kp_buffer_copy_rows(bc, at * row, S * row, bt, 0, row, row, H) == KP_OK && kp_buffer_read(bc, 0, cache, sizeof cache) == KP_OK,
        "copy_rows runs and reads back");
  int ok = 1;
  for (int h = 0; h < H; h++)
    for (int s = 0; s < S; s++)
      for (int d = 0; d < D; d++) ok &= cache[(h * S + s) * D + d] == (s == (int)at ? token[h * D + d] : -1.0f);
  check(ok, "copy_rows puts each head's row at its position, nothing else");
  check(kp_buffer_copy_rows(bc, 0, row / 2, bt, 0, row, row, 2) == KP_ERR_INVALID_ARGUMENT, "copy_rows: rows written overlapping are refused");
  check(kp_buffer_copy_rows(bc, 0, S * row, bt, 0, row, row, H + 1) == KP_ERR_BAD_BUFFER, "copy_rows: a last row past the end is refused");
  check(kp_buffer_copy_rows(bc, 0, SIZE_MAX / 2, bt, 0, 0, row, 3) == KP_ERR_BAD_BUFFER, "copy_rows: a span that wraps is refused");
  check(kp_buffer_copy_rows(bc, 0, row, bc, row, row, row, 2) == KP_ERR_INVALID_ARGUMENT, "copy_rows: spans meeting in one buffer are refused");
  check(kp_buffer_copy_rows(bc, 0, row, bt, 0, row, row, 0) == KP_OK, "copy_rows: no rows is nothing to do");
  kp_buffer_release(bt);
  kp_buffer_release(bc);
}

static void test_thread_cap(void) {
  enum { M = 67, K = 131, N = 45, S = 19, SK = 300, D = 32 };
  static float a[M * K], b[K * N], ref[M * N], out[M * N];
  static float q[2 * S * D], k[SK * D], v[SK * D], aref[2 * S * D], aout[2 * S * D];
  unsigned seed = 3;
  for (int i = 0; i < M * K; i++) a[i] = frand(&seed);
  for (int i = 0; i < K * N; i++) b[i] = frand(&seed);
  for (int i = 0; i < 2 * S * D; i++) q[i] = frand(&seed);
  for (int i = 0; i < SK * D; i++) k[i] = frand(&seed), v[i] = frand(&seed);
  kp_device* dev = NULL;
  if (kp_device_open("cpu", 3, &dev) != KP_OK) {
    check(0, "open a 3-thread cpu device");
    return;
  }
  kp_buffer *ba = upload(dev, a, sizeof a), *bb = upload(dev, b, sizeof b), *bo = NULL;
  kp_buffer *bq = upload(dev, q, sizeof q), *bk = upload(dev, k, sizeof k), *bv = upload(dev, v, sizeof v), *bao = NULL;
  kp_buffer_create(dev, sizeof out, &bo);
  kp_buffer_create(dev, sizeof aout, &bao);

  kp_matmul_desc d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = d.out_dtype = KP_F32;
  d.m = M, d.n = N, d.k = K;
  d.alpha = 1.0f;
  kp_attention_desc ad;
  memset(&ad, 0, sizeof ad);
  ad.struct_size = sizeof ad;
  ad.dtype = ad.out_dtype = KP_F32;
  ad.batch = 1, ad.hq = 2, ad.hkv = 1, ad.sq = S, ad.skv = SK, ad.d = D, ad.dv = D;
  ad.scale = 0.2f;
  ad.causal = KP_CAUSAL_BOTTOM_RIGHT;
  check(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo) == KP_OK && kp_buffer_read(bo, 0, ref, sizeof ref) == KP_OK, "matmul, no cap");
  check(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL) == KP_OK && kp_buffer_read(bao, 0, aref, sizeof aref) == KP_OK, "attention, no cap");
  for (int cap = 1; cap <= 5; cap++) {
    char what[96];
    d.max_threads = cap;
    ad.max_threads = cap;
    snprintf(what, sizeof what, "matmul with max_threads = %d is bitwise identical", cap);
    check(ran_as(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), bo, out, ref, sizeof out), what);
    snprintf(what, sizeof what, "attention with max_threads = %d is bitwise identical", cap);
    check(ran_as(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL), bao, aout, aref, sizeof aout), what);
  }
  d.max_threads = -1;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), "max_threads"), "negative max_threads is refused");
  ad.max_threads = -1;
  check(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL) == KP_ERR_INVALID_ARGUMENT, "negative max_threads is refused (attention)");

  /* The first header's descriptors: they end before max_threads (kp_attention_desc had 4 bytes of
   * padding after return_lse, which is where max_threads now lives). Garbage there is never read. */
  d.struct_size = (uint32_t)offsetof(kp_matmul_desc, max_threads);
  d.max_threads = -7;
  d.allow_tf32 = 77;
  check(ran_as(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), bo, out, ref, sizeof out),
        "an older, smaller kp_matmul_desc is accepted, its missing fields read as 0");
  ad.struct_size = (uint32_t)(offsetof(kp_attention_desc, max_threads) + sizeof(int32_t));
  ad.max_threads = -7;
  ad.allow_p16 = 12345;
  check(ran_as(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL), bao, aout, aref, sizeof aout),
        "an older, smaller kp_attention_desc is accepted, its padding never read");
  check(sizeof(kp_attention_desc) > offsetof(kp_attention_desc, max_threads) + sizeof(int32_t), "the current attention descriptor is larger than the first one");
  /* The second revision's: they end before gpu_kernel, which in kp_attention_desc sits in what was its
   * trailing padding (its sizeof rounds allow_p16's end up to 8). Out-of-range values there are never read. */
  d.max_threads = 0;
  d.allow_tf32 = 0;
  d.struct_size = (uint32_t)offsetof(kp_matmul_desc, gpu_kernel);
  d.gpu_kernel = 99;
  d.gpu_split_k = -3;
  check(ran_as(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), bo, out, ref, sizeof out),
        "a second-revision kp_matmul_desc is accepted, the GPU kernel choice read as 0");
  d.max_threads = -1;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), "max_threads"),
        "a second-revision kp_matmul_desc's own fields are read (max_threads = -1 refused)");
  d.max_threads = 0;
  ad.max_threads = 0;
  ad.allow_p16 = 0;
  ad.struct_size = (uint32_t)((offsetof(kp_attention_desc, gpu_kernel) + 7) / 8 * 8);
  ad.gpu_kernel = 99;
  ad.gpu_key_tile = 5;
  check(ad.struct_size < sizeof ad && ran_as(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL), bao, aout, aref, sizeof aout),
        "a second-revision kp_attention_desc is accepted, its padding (now gpu_kernel) never read");
  ad.allow_p16 = 3;
  check(refused(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL), "allow_p16"),
        "a second-revision kp_attention_desc's own fields are read (allow_p16 = 3 refused)");
  ad.allow_p16 = 0;
  /* The third revision's GPU kernel choices: checked, and ignored by the cpu (bitwise the same result). */
  d.struct_size = sizeof d;
  ad.struct_size = sizeof ad;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), "gpu_kernel"), "matmul gpu_kernel out of range is refused");
  {
    char v[64];
    check(refused(kp_explain(dev, 0, &d, v, sizeof v), "gpu_kernel"), "kp_explain refuses what the op refuses (gpu_kernel)");
    check(refused(kp_explain(dev, 1, &ad, v, sizeof v), "gpu_kernel"), "kp_explain refuses what the op refuses (attention)");
  }
  d.gpu_kernel = 3;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), "gpu_split_k"), "a negative gpu_split_k is refused");
  d.gpu_split_k = 65;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), "gpu_split_k"), "gpu_split_k over 64 is refused");
  d.gpu_split_k = 2;
  check(ran_as(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), bo, out, ref, sizeof out),
        "gpu_kernel = 3, gpu_split_k = 2 on cpu: bitwise the same result");
  d.gpu_kernel = 0;
  d.gpu_split_k = 0;
  check(refused(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL), "gpu_kernel"), "attention gpu_kernel out of range is refused");
  ad.gpu_kernel = 2;
  check(refused(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL), "gpu_key_tile"), "gpu_key_tile other than 0 or 64 is refused");
  ad.gpu_key_tile = 64;
  check(ran_as(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL), bao, aout, aref, sizeof aout),
        "gpu_kernel = 2, gpu_key_tile = 64 on cpu: bitwise the same result");
  ad.gpu_kernel = 0;
  ad.gpu_key_tile = 0;
  /* allow_tf32 is a flag: 0 or 1. The cpu computes full f32 either way (bitwise the same result). */
  d.struct_size = sizeof d;
  d.max_threads = 0;
  d.allow_tf32 = 2;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), "allow_tf32"), "allow_tf32 other than 0 or 1 is refused");
  d.allow_tf32 = 1;
  check(ran_as(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), bo, out, ref, sizeof out),
        "allow_tf32 = 1 on cpu: full f32, bitwise the same result");
  d.allow_tf32 = 0;
  /* kp_explain: the cpu has no native planner (its kernels are named in TypeScript): "". */
  {
    char v[64] = "x";
    check(kp_explain(dev, 0, &d, v, sizeof v) == KP_OK && v[0] == 0, "kp_explain on cpu gives \"\"");
    check(refused(kp_explain(dev, 2, &d, v, sizeof v), "op must be 0"), "kp_explain refuses an unknown op");
    check(kp_explain(dev, 1, NULL, v, sizeof v) == KP_ERR_INVALID_ARGUMENT, "kp_explain refuses a NULL descriptor");
  }
  /* allow_p16 likewise; the cpu keeps P in f32 whatever it says (and it means nothing for f32 inputs). */
  ad.struct_size = sizeof ad;
  ad.max_threads = 0;
  ad.allow_p16 = 2;
  check(refused(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL), "allow_p16"), "allow_p16 other than 0 or 1 is refused");
  ad.allow_p16 = 1;
  check(ran_as(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL), bao, aout, aref, sizeof aout),
        "allow_p16 = 1 on cpu: P in f32, bitwise the same result");
  ad.allow_p16 = 0;
  check(refused(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bq, NULL), "out is also q"),
        "attention into its own q is refused");
  ad.scale = NAN;
  check(refused(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL), "scale"), "a NaN scale is refused");
  ad.scale = 0.2f;
  d.struct_size = 16;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), "struct_size"), "a struct_size smaller than any version is refused");
  ad.struct_size = 0;
  check(kp_attention(dev, &ad, bq, bk, bv, NULL, NULL, bao, NULL) == KP_ERR_INVALID_ARGUMENT, "a struct_size smaller than any version is refused (attention)");
  kp_buffer_release(ba), kp_buffer_release(bb), kp_buffer_release(bo);
  kp_buffer_release(bq), kp_buffer_release(bk), kp_buffer_release(bv), kp_buffer_release(bao);
  kp_device_close(dev);
}

/* What a C framework gets wrong first: an output that is also an input, a write into a buffer that a
 * queued op still reads (a KV cache updated between ops), a blocking call from a callback, NaN scalars. */
struct callback_probe {
  kp_device* dev;
  kp_buffer* buf;
  kp_status sync, read, close;
  char message[256];
};
static void blocking_calls_from_callback(void* user, kp_status status, const char* message) {
  struct callback_probe* p = (struct callback_probe*)user;
  float x;
  (void)status, (void)message;
  p->sync = kp_device_sync(p->dev);
  snprintf(p->message, sizeof p->message, "%s", kp_last_error());
  p->read = kp_buffer_read(p->buf, 0, &x, sizeof x);
  p->close = kp_device_close(p->dev);
}

static void test_misuse(void) {
  enum { N = 192 };
  static float a[N * N], b[N * N], out[N * N];
  kp_device* dev = NULL;
  check(kp_device_open("cpu", 2, &dev) == KP_OK, "open cpu (misuse)");
  for (int i = 0; i < N * N; i++) a[i] = 1.0f, b[i] = 1.0f;
  kp_buffer *ba = upload(dev, a, sizeof a), *bb = upload(dev, b, sizeof b), *bo = NULL;
  kp_buffer_create(dev, sizeof out, &bo);
  kp_matmul_desc d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = d.out_dtype = KP_F32;
  d.m = d.n = d.k = N;
  d.alpha = 1.0f;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, NULL, bb), "out is also b"),
        "an output that is also an input is refused, naming both");
  d.has_residual = 1, d.residual_dtype = KP_F32, d.r_row_stride = N, d.r_col_stride = 1, d.beta = 1.0f;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, bo, bo), "residual"),
        "out as its own residual is refused");
  d.has_residual = 0;
  d.alpha = NAN;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), "alpha"), "a NaN alpha is refused");
  d.alpha = 1.0f, d.trans_a = 5;
  check(refused(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo), "trans_a"), "trans_a = 5 is refused");
  d.trans_a = 0;

  /* Write ordering: overwrite a still queued op's input; the op must see the old values (K ones: N). */
  for (int r = 0; r < 4; r++) check(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo) == KP_OK, "matmul queued before the write");
  for (int i = 0; i < N * N; i++) b[i] = 2.0f;
  check(kp_buffer_write(bb, 0, b, sizeof b) == KP_OK, "write into a buffer queued ops read");
  check(kp_buffer_read(bo, 0, out, sizeof out) == KP_OK && out[0] == (float)N && out[N * N - 1] == (float)N,
        "ops queued before a write see the data they were queued with");
  check(kp_matmul(dev, &d, ba, bb, NULL, NULL, bo) == KP_OK && kp_buffer_read(bo, 0, out, sizeof out) == KP_OK && out[0] == 2.0f * N,
        "ops queued after a write see the new data");

  /* Blocking calls from a callback fail instead of waiting for themselves. */
  struct callback_probe p = {dev, bo, KP_OK, KP_OK, KP_OK, ""};
  check(kp_device_sync_async(dev, blocking_calls_from_callback, &p) == KP_OK && kp_device_sync(dev) == KP_OK, "sync callback runs");
  check(p.sync == KP_ERR_INVALID_ARGUMENT && strstr(p.message, "callback") != NULL, "kp_device_sync from a callback is refused, saying why");
  check(p.read == KP_ERR_INVALID_ARGUMENT, "kp_buffer_read from a callback is refused");
  check(p.close == KP_ERR_INVALID_ARGUMENT, "kp_device_close from a callback is refused");
  kp_buffer_release(ba), kp_buffer_release(bb), kp_buffer_release(bo);
  kp_device_close(dev);
}

int main(void) {
  check(kp_abi_version() == KP_ABI_VERSION, "ABI version matches the header");
  kp_cpu_info info;
  check(kp_cpu_probe(&info) == KP_OK && info.usable_cores >= 1, "cpu probe");
  kp_device* dev = NULL;
  check(kp_device_open("nosuch", 0, &dev) == KP_ERR_UNAVAILABLE, "unknown backend is unavailable");
  check(kp_device_open("cpu", 2, &dev) == KP_OK && dev != NULL, "open cpu");
  if (!dev) return 1;
  test_matmul(dev);
  test_attention(dev);
  test_copy_rows(dev);
  kp_device_close(dev);
  test_thread_cap();
  test_misuse();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
