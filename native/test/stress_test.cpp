// Native stress test of the C ABI, meant to run under AddressSanitizer + UndefinedBehaviorSanitizer
// (scripts/test-asan.sh) as well as in a plain build:
//  - random matmul and attention problems (odd sizes, broadcasting, every option and dtype) checked
//    against a double-precision loop with an error bound that scales with the problem;
//  - random, mostly invalid descriptors: each call returns an error or computes within the buffers;
//  - several threads driving their own devices and one shared device at once;
//  - inputs released while the op that reads them is still queued;
//  - matmuls big enough that the GEMM packs its operands in bands, at 1 and 2 threads.
// Prints "N passed, N failed"; exits non-zero on any failure.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu/convert.h"
#include "kernelport.h"

namespace {

std::atomic<int> g_passed{0}, g_failed{0};

void check(bool ok, const std::string& what) {
  if (ok) {
    g_passed++;
  } else {
    g_failed++;
    std::printf("FAIL: %s (last error: %s)\n", what.c_str(), kp_last_error());
  }
}

struct Host {
  std::vector<uint8_t> bytes;
  std::vector<double> values;  // exact values of the stored elements
};

double unit_roundoff(kp_dtype t) { return t == KP_F32 ? 0x1p-24 : t == KP_F16 ? 0x1p-11 : 0x1p-8; }
size_t esize(kp_dtype t) { return t == KP_F32 ? 4 : 2; }

Host make(std::mt19937& rng, size_t n, kp_dtype t, double scale = 1.0) {
  std::normal_distribution<float> dist(0.0f, static_cast<float>(scale));
  Host h;
  h.bytes.resize(n * esize(t));
  h.values.resize(n);
  for (size_t i = 0; i < n; i++) {
    float x = dist(rng);
    if (t == KP_F32) {
      std::memcpy(&h.bytes[i * 4], &x, 4);
    } else {
      uint16_t b = t == KP_F16 ? kp::cpu::f32_to_f16(x) : kp::cpu::f32_to_bf16(x);
      std::memcpy(&h.bytes[i * 2], &b, 2);
      x = t == KP_F16 ? kp::cpu::f16_to_f32(b) : kp::cpu::bf16_to_f32(b);
    }
    h.values[i] = x;
  }
  return h;
}

double load(const std::vector<uint8_t>& bytes, size_t i, kp_dtype t) {
  if (t == KP_F32) {
    float x;
    std::memcpy(&x, &bytes[i * 4], 4);
    return x;
  }
  uint16_t b;
  std::memcpy(&b, &bytes[i * 2], 2);
  return t == KP_F16 ? kp::cpu::f16_to_f32(b) : kp::cpu::bf16_to_f32(b);
}

kp_buffer* upload(kp_device* dev, const std::vector<uint8_t>& bytes) {
  kp_buffer* b = nullptr;
  if (kp_buffer_create(dev, bytes.size(), &b) != KP_OK) return nullptr;
  kp_buffer_write(b, 0, bytes.data(), bytes.size());
  return b;
}

double act(kp_activation a, double x) {
  switch (a) {
    case KP_ACT_RELU: return x < 0 ? 0 : x;
    case KP_ACT_GELU: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case KP_ACT_GELU_TANH: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case KP_ACT_SILU: return x / (1 + std::exp(-x));
    default: return x;
  }
}

// One random matmul with every option drawn at random, checked element by element.
void random_matmul(kp_device* dev, std::mt19937& rng, int id) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const kp_dtype dts[] = {KP_F32, KP_F16, KP_BF16};
  kp_matmul_desc d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = dts[pick(3)];
  d.out_dtype = dts[pick(3)];
  d.m = 1 + pick(70), d.n = 1 + pick(70), d.k = 1 + pick(140);
  d.trans_a = pick(2), d.trans_b = pick(2);
  d.batch_rank = pick(3);
  int64_t batch = 1, a_batch = 1, b_batch = 1;
  for (int i = d.batch_rank - 1; i >= 0; i--) {
    d.batch_shape[i] = 1 + pick(3);
    const bool a_bc = pick(3) == 0, b_bc = pick(3) == 0;
    d.a_batch_stride[i] = a_bc ? 0 : a_batch * d.m * d.k;
    d.b_batch_stride[i] = b_bc ? 0 : b_batch * d.k * d.n;
    if (!a_bc) a_batch *= d.batch_shape[i];
    if (!b_bc) b_batch *= d.batch_shape[i];
    batch *= d.batch_shape[i];
  }
  d.alpha = pick(2) ? 1.0f : 0.5f;
  d.activation = static_cast<kp_activation>(pick(5));
  d.has_bias = pick(2), d.bias_dtype = dts[pick(3)];
  d.has_residual = pick(2), d.residual_dtype = dts[pick(3)], d.beta = pick(2) ? 1.0f : -0.75f;
  // Residual: full, a row broadcast ([N]) or a column broadcast ([M,1]), batch broadcast.
  const int rkind = pick(3);
  d.r_row_stride = rkind == 1 ? 0 : rkind == 2 ? 1 : d.n;
  d.r_col_stride = rkind == 2 ? 0 : 1;
  const int64_t r_inner = rkind == 0 ? d.m * d.n : rkind == 1 ? d.n : d.m;
  const int64_t r_total = r_inner * (rkind == 0 ? batch : 1);
  int64_t acc = r_inner;
  for (int i = d.batch_rank - 1; i >= 0; i--) {
    d.r_batch_stride[i] = rkind == 0 ? acc : 0;
    acc *= d.batch_shape[i];
  }

  Host A = make(rng, a_batch * d.m * d.k, d.dtype), B = make(rng, b_batch * d.k * d.n, d.dtype);
  Host bias = make(rng, d.n, d.bias_dtype), res = make(rng, r_total, d.residual_dtype);
  kp_buffer *ba = upload(dev, A.bytes), *bb = upload(dev, B.bytes), *bbias = upload(dev, bias.bytes),
            *bres = upload(dev, res.bytes), *out = nullptr;
  kp_buffer_create(dev, batch * d.m * d.n * esize(d.out_dtype), &out);
  const kp_status s = kp_matmul(dev, &d, ba, bb, bbias, bres, out);
  // Release the inputs at once: the queued op must keep them alive.
  kp_buffer_release(ba), kp_buffer_release(bb), kp_buffer_release(bbias), kp_buffer_release(bres);
  std::vector<uint8_t> got(batch * d.m * d.n * esize(d.out_dtype));
  const kp_status r = s == KP_OK ? kp_buffer_read(out, 0, got.data(), got.size()) : s;
  kp_buffer_release(out);
  check(s == KP_OK && r == KP_OK, "matmul " + std::to_string(id) + " runs");
  if (s != KP_OK || r != KP_OK) return;

  double worst = 0;
  for (int64_t bi = 0; bi < batch; bi++) {
    int64_t ao = 0, bo = 0, ro = 0, rem = bi;
    for (int i = d.batch_rank - 1; i >= 0; i--) {
      const int64_t idx = rem % d.batch_shape[i];
      rem /= d.batch_shape[i];
      ao += idx * d.a_batch_stride[i], bo += idx * d.b_batch_stride[i], ro += idx * d.r_batch_stride[i];
    }
    for (int64_t i = 0; i < d.m; i++)
      for (int64_t j = 0; j < d.n; j++) {
        double sum = 0, mag = 0;
        for (int64_t p = 0; p < d.k; p++) {
          const double a = A.values[ao + (d.trans_a ? p * d.m + i : i * d.k + p)];
          const double b = B.values[bo + (d.trans_b ? j * d.k + p : p * d.n + j)];
          sum += a * b, mag += std::fabs(a * b);
        }
        double pre = d.alpha * sum + (d.has_bias ? bias.values[j] : 0);
        double ref = act(d.activation, pre);
        double rv = d.has_residual ? d.beta * res.values[ro + i * d.r_row_stride + j * d.r_col_stride] : 0;
        ref += rv;
        const double bound = 4 * (std::sqrt(double(d.k)) + 2) * 0x1p-24 * 1.2 * (std::fabs(d.alpha) * mag + std::fabs(bias.values[j])) +
                             2 * 0x1p-24 * std::fabs(rv) + unit_roundoff(d.out_dtype) * std::fabs(ref) + 1e-30;
        const double e = std::fabs(load(got, (bi * d.m + i) * d.n + j, d.out_dtype) - ref) / bound;
        if (!(e <= worst)) worst = e;  // NaN counts as worst
      }
  }
  check(worst <= 1.0, "matmul " + std::to_string(id) + " within bound (worst " + std::to_string(worst) + ")");
}

// One random attention problem: GQA, layouts, both causal modes, kv lengths, a broadcast mask.
void random_attention(kp_device* dev, std::mt19937& rng, int id) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  kp_attention_desc d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = d.out_dtype = pick(2) ? KP_F32 : KP_BF16;
  d.layout = static_cast<kp_layout>(pick(2));
  d.batch = 1 + pick(2), d.hkv = 1 + pick(2), d.hq = d.hkv * (1 + pick(3));
  d.sq = 1 + pick(70), d.skv = 1 + pick(140), d.d = 1 + pick(40), d.dv = 1 + pick(40);
  d.scale = 1.0f / std::sqrt(static_cast<float>(d.d));
  d.causal = static_cast<kp_causal>(pick(3));
  d.has_kv_lengths = pick(2);
  d.has_mask = pick(2);
  d.mask_stride[0] = 0, d.mask_stride[1] = 0, d.mask_stride[2] = d.skv, d.mask_stride[3] = 1;  // [Sq, Skv]
  d.return_lse = 1;
  std::vector<int32_t> lengths(d.batch);
  for (auto& l : lengths) l = pick(static_cast<int>(d.skv) + 1);
  Host Q = make(rng, d.batch * d.hq * d.sq * d.d, d.dtype), K = make(rng, d.batch * d.hkv * d.skv * d.d, d.dtype),
       V = make(rng, d.batch * d.hkv * d.skv * d.dv, d.dtype), M = make(rng, d.sq * d.skv, KP_F32);
  for (size_t i = 0; i < M.values.size(); i++)
    if (pick(8) == 0) {
      const float inf = -INFINITY;
      std::memcpy(&M.bytes[i * 4], &inf, 4);
      M.values[i] = -INFINITY;
    }
  std::vector<uint8_t> lb(lengths.size() * 4);
  std::memcpy(lb.data(), lengths.data(), lb.size());
  kp_buffer *bq = upload(dev, Q.bytes), *bk = upload(dev, K.bytes), *bv = upload(dev, V.bytes), *bm = upload(dev, M.bytes),
            *bl = upload(dev, lb), *out = nullptr, *lse = nullptr;
  const int64_t rows = d.batch * d.hq * d.sq;
  kp_buffer_create(dev, rows * d.dv * esize(d.out_dtype), &out);
  kp_buffer_create(dev, rows * 4, &lse);
  const kp_status s = kp_attention(dev, &d, bq, bk, bv, bl, bm, out, lse);
  kp_buffer_release(bq), kp_buffer_release(bk), kp_buffer_release(bv), kp_buffer_release(bm), kp_buffer_release(bl);
  std::vector<uint8_t> got(rows * d.dv * esize(d.out_dtype));
  const kp_status r = s == KP_OK ? kp_buffer_read(out, 0, got.data(), got.size()) : s;
  kp_buffer_release(out), kp_buffer_release(lse);
  check(s == KP_OK && r == KP_OK, "attention " + std::to_string(id) + " runs");
  if (s != KP_OK || r != KP_OK) return;

  const bool bhsd = d.layout == KP_LAYOUT_BHSD;
  auto at = [&](int64_t b, int64_t h, int64_t i, int64_t H, int64_t S, int64_t D) {
    return bhsd ? ((b * H + h) * S + i) * D : ((b * S + i) * H + h) * D;
  };
  double worst = 0;
  std::vector<double> sc(d.skv);
  for (int64_t b = 0; b < d.batch; b++)
    for (int64_t h = 0; h < d.hq; h++) {
      const int64_t hk = h / (d.hq / d.hkv);
      const int64_t L = d.has_kv_lengths ? lengths[b] : d.skv;
      for (int64_t i = 0; i < d.sq; i++) {
        double mx = -INFINITY, smag = 0;
        for (int64_t j = 0; j < d.skv; j++) {
          bool vis = j < L && (d.causal != KP_CAUSAL_BOTTOM_RIGHT || j <= i + L - d.sq) && (d.causal != KP_CAUSAL_TOP_LEFT || j <= i);
          double s = -INFINITY, mag = 0;
          if (vis) {
            s = 0;
            for (int64_t c = 0; c < d.d; c++) {
              const double p = Q.values[at(b, h, i, d.hq, d.sq, d.d) + c] * K.values[at(b, hk, j, d.hkv, d.skv, d.d) + c];
              s += p, mag += std::fabs(p);
            }
            s = s * d.scale + (d.has_mask ? M.values[i * d.skv + j] : 0);
            mag = mag * d.scale;
          }
          sc[j] = s;
          if (s > mx) mx = s;
          if (s != -INFINITY && mag > smag) smag = mag;
        }
        double l = 0;
        for (int64_t j = 0; j < d.skv; j++) l += sc[j] == -INFINITY ? 0 : std::exp(sc[j] - mx);
        for (int64_t c = 0; c < d.dv; c++) {
          double o = 0, om = 0;
          for (int64_t j = 0; j < d.skv; j++)
            if (sc[j] != -INFINITY) {
              const double p = std::exp(sc[j] - mx) / l, v = V.values[at(b, hk, j, d.hkv, d.skv, d.dv) + c];
              o += p * v, om += p * std::fabs(v);
            }
          if (l == 0) o = 0, om = 0;
          const double bound = 4 * 0x1p-24 * (2 * std::sqrt(double(d.d)) * smag + std::sqrt(double(d.skv)) + 4) * om * 2 +
                               unit_roundoff(d.out_dtype) * std::fabs(o) + 1e-30;
          const double e = std::fabs(load(got, at(b, h, i, d.hq, d.sq, d.dv) + c, d.out_dtype) - o) / bound;
          if (!(e <= worst)) worst = e;
        }
      }
    }
  check(worst <= 1.0, "attention " + std::to_string(id) + " within bound (worst " + std::to_string(worst) + ")");
}

// Random descriptors over small real buffers: every call must return an error or stay in bounds.
void garbage_descriptors(kp_device* dev, std::mt19937& rng) {
  std::vector<kp_buffer*> bufs;
  for (size_t bytes : {0, 4, 64, 4096})
    for (int i = 0; i < 2; i++) {
      kp_buffer* b = nullptr;
      kp_buffer_create(dev, bytes, &b);
      std::vector<uint8_t> z(bytes, 0);
      kp_buffer_write(b, 0, z.data(), bytes);
      bufs.push_back(b);
    }
  const int64_t vals[] = {0, 1, 2, 3, 7, 64, -1, -64, INT64_MAX, INT64_MIN, 1LL << 31, 1LL << 40};
  auto v = [&] { return vals[rng() % (sizeof vals / sizeof vals[0])]; };
  auto buf = [&] { return rng() % 5 == 0 ? nullptr : bufs[rng() % bufs.size()]; };
  int ok = 0, refused = 0;
  for (int it = 0; it < 4000; it++) {
    if (it % 2 == 0) {
      kp_matmul_desc d;
      std::memset(&d, 0, sizeof d);
      d.struct_size = sizeof d;
      d.dtype = static_cast<kp_dtype>(rng() % 4), d.out_dtype = static_cast<kp_dtype>(rng() % 4);
      d.m = v(), d.n = v(), d.k = v(), d.trans_a = rng() % 2, d.trans_b = rng() % 2;
      d.batch_rank = static_cast<int32_t>(rng() % 3);
      for (int i = 0; i < d.batch_rank; i++) d.batch_shape[i] = v(), d.a_batch_stride[i] = v(), d.b_batch_stride[i] = v(), d.r_batch_stride[i] = v();
      d.activation = static_cast<kp_activation>(rng() % 6);
      d.has_bias = rng() % 2, d.bias_dtype = static_cast<kp_dtype>(rng() % 3);
      d.has_residual = rng() % 2, d.residual_dtype = static_cast<kp_dtype>(rng() % 3);
      d.r_row_stride = v(), d.r_col_stride = v();
      d.alpha = 1, d.beta = 1;
      (kp_matmul(dev, &d, buf(), buf(), buf(), buf(), buf()) == KP_OK ? ok : refused)++;
    } else {
      kp_attention_desc d;
      std::memset(&d, 0, sizeof d);
      d.struct_size = sizeof d;
      d.dtype = static_cast<kp_dtype>(rng() % 3), d.out_dtype = static_cast<kp_dtype>(rng() % 3);
      d.layout = static_cast<kp_layout>(rng() % 3);
      d.batch = v(), d.hq = v(), d.hkv = v(), d.sq = v(), d.skv = v(), d.d = v(), d.dv = v();
      d.scale = 1, d.causal = static_cast<kp_causal>(rng() % 4);
      d.has_kv_lengths = rng() % 2, d.has_mask = rng() % 2, d.return_lse = rng() % 2;
      for (auto& s : d.mask_stride) s = v();
      (kp_attention(dev, &d, buf(), buf(), buf(), buf(), buf(), buf(), buf()) == KP_OK ? ok : refused)++;
    }
  }
  kp_device_sync(dev);  // whatever ran (kv_lengths of zeros are valid), it ran inside its buffers
  for (auto* b : bufs) kp_buffer_release(b);
  check(refused > 0 && ok + refused == 4000, "garbage descriptors: " + std::to_string(refused) + " refused, " + std::to_string(ok) + " ran in bounds");
}

// Operands bigger than the GEMM's packing budget (32 MiB of packed A or B) are packed in bands:
// rows of A in two bands (M = 2100, K = 4096), then columns of B (N = 2100). Sampled rows against a
// double loop, and the whole output bitwise equal between 1 and 2 threads.
void banded_matmul(kp_device* dev2, std::mt19937& rng) {
  kp_device* dev1 = nullptr;
  if (kp_device_open("cpu", 1, &dev1) != KP_OK) return check(false, "open 1-thread device");
  const int64_t shapes[2][3] = {{2100, 4096, 40}, {8, 4096, 2100}};
  for (const auto& sh : shapes) {
    const int64_t m = sh[0], k = sh[1], n = sh[2];
    Host a = make(rng, static_cast<size_t>(m * k), KP_F32), b = make(rng, static_cast<size_t>(k * n), KP_F32);
    kp_matmul_desc d{};
    d.struct_size = sizeof d;
    d.dtype = d.out_dtype = KP_F32;
    d.m = m, d.n = n, d.k = k;
    d.alpha = 1.0f, d.beta = 1.0f;
    std::vector<float> out[2];
    kp_device* devs[2] = {dev1, dev2};
    for (int t = 0; t < 2; t++) {
      kp_buffer *ba = nullptr, *bb = nullptr, *bo = nullptr;
      kp_buffer_create(devs[t], a.bytes.size(), &ba);
      kp_buffer_create(devs[t], b.bytes.size(), &bb);
      kp_buffer_create(devs[t], static_cast<size_t>(m * n) * 4, &bo);
      kp_buffer_write(ba, 0, a.bytes.data(), a.bytes.size());
      kp_buffer_write(bb, 0, b.bytes.data(), b.bytes.size());
      out[t].resize(static_cast<size_t>(m * n));
      const kp_status s = kp_matmul(devs[t], &d, ba, bb, nullptr, nullptr, bo);
      const kp_status r = kp_buffer_read(bo, 0, out[t].data(), out[t].size() * 4);
      check(s == KP_OK && r == KP_OK, "banded matmul runs");
      for (kp_buffer* x : {ba, bb, bo}) kp_buffer_release(x);
    }
    check(std::memcmp(out[0].data(), out[1].data(), out[0].size() * 4) == 0, "banded matmul: 1 and 2 threads agree bitwise");
    double worst = 0;
    for (int64_t i : {int64_t{0}, m / 2 - 1, m / 2, m / 2 + 1, m - 1})
      for (int64_t j = 0; j < n; j++) {
        double ref = 0, mag = 0;
        for (int64_t p = 0; p < k; p++) {
          ref += a.values[i * k + p] * b.values[p * n + j];
          mag += std::fabs(a.values[i * k + p] * b.values[p * n + j]);
        }
        const double bound = 4 * (std::sqrt(static_cast<double>(k)) + 2) * 0x1p-24 * mag + 1e-30;
        worst = std::max(worst, std::fabs(out[1][i * n + j] - ref) / bound);
      }
    check(worst <= 1.0, "banded matmul " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) +
                            " within bound (worst " + std::to_string(worst) + ")");
  }
  kp_device_close(dev1);
}

}  // namespace

int main(int argc, char** argv) {
  const int cases = argc > 1 ? std::atoi(argv[1]) : 60;
  kp_device* dev = nullptr;
  if (kp_device_open("cpu", 2, &dev) != KP_OK) {
    std::printf("cannot open cpu: %s\n", kp_last_error());
    return 1;
  }
  std::mt19937 rng(12345);
  for (int i = 0; i < cases; i++) random_matmul(dev, rng, i);
  for (int i = 0; i < cases; i++) random_attention(dev, rng, i);
  garbage_descriptors(dev, rng);
  banded_matmul(dev, rng);

  // Concurrency: 4 threads on their own devices and 4 more sharing `dev`.
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++)
    threads.emplace_back([t, dev, cases] {
      kp_device* own = nullptr;
      if (t < 4 && kp_device_open("cpu", 1 + t % 2, &own) != KP_OK) return check(false, "open per-thread device");
      std::mt19937 r(1000 + t);
      for (int i = 0; i < cases / 4; i++) {
        random_matmul(t < 4 ? own : dev, r, 10000 * (t + 1) + i);
        random_attention(t < 4 ? own : dev, r, 10000 * (t + 1) + i);
      }
      if (own) kp_device_close(own);
    });
  for (auto& th : threads) th.join();
  kp_device_close(dev);
  std::printf("%d passed, %d failed\n", g_passed.load(), g_failed.load());
  return g_failed.load() ? 1 : 0;
}
