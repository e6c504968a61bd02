// Op descriptors from JS: a Float64Array packed by src/backends/cpu (descriptors.ts) in the order of
// the field tables below, which the addon exports (descriptorFields) so the two sides cannot drift.
// One typed array instead of a JS object: a property read per field through Node-API cost more than
// the rest of an op's enqueue.
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include "addon.h"

namespace kpnode {
namespace {

enum class Kind { I32, I64, F32, I64_ARRAY };  // I32 also holds the C ABI's enums
struct Field {
  const char* name;
  Kind kind;
  size_t offset;
  int cap = 0;                // I64_ARRAY: most values; packed as a count slot, then cap slots
  ptrdiff_t count_at = -1;    // I64_ARRAY: the int32 field receiving the count, if any
};
static_assert(sizeof(kp_dtype) == sizeof(int32_t) && sizeof(kp_activation) == sizeof(int32_t) &&
                  sizeof(kp_layout) == sizeof(int32_t) && sizeof(kp_causal) == sizeof(int32_t),
              "the C ABI's enums are stored as int32 slots");

#define KP_FIELD(T, js, kind, member) Field{js, Kind::kind, offsetof(T, member)}
#define KP_ARRAY(T, js, member, cap, count) Field{js, Kind::I64_ARRAY, offsetof(T, member), cap, count}

const Field kMatmulFields[] = {
    KP_FIELD(kp_matmul_desc, "dtype", I32, dtype),
    KP_FIELD(kp_matmul_desc, "outDtype", I32, out_dtype),
    KP_FIELD(kp_matmul_desc, "transA", I32, trans_a),
    KP_FIELD(kp_matmul_desc, "transB", I32, trans_b),
    KP_FIELD(kp_matmul_desc, "m", I64, m),
    KP_FIELD(kp_matmul_desc, "n", I64, n),
    KP_FIELD(kp_matmul_desc, "k", I64, k),
    KP_ARRAY(kp_matmul_desc, "batchShape", batch_shape, KP_MAX_BATCH_DIMS, offsetof(kp_matmul_desc, batch_rank)),
    KP_ARRAY(kp_matmul_desc, "aBatchStrides", a_batch_stride, KP_MAX_BATCH_DIMS, -1),
    KP_ARRAY(kp_matmul_desc, "bBatchStrides", b_batch_stride, KP_MAX_BATCH_DIMS, -1),
    KP_FIELD(kp_matmul_desc, "alpha", F32, alpha),
    KP_FIELD(kp_matmul_desc, "beta", F32, beta),
    KP_FIELD(kp_matmul_desc, "activation", I32, activation),
    KP_FIELD(kp_matmul_desc, "hasBias", I32, has_bias),
    KP_FIELD(kp_matmul_desc, "biasDtype", I32, bias_dtype),
    KP_FIELD(kp_matmul_desc, "hasResidual", I32, has_residual),
    KP_FIELD(kp_matmul_desc, "residualDtype", I32, residual_dtype),
    KP_ARRAY(kp_matmul_desc, "rBatchStrides", r_batch_stride, KP_MAX_BATCH_DIMS, -1),
    KP_FIELD(kp_matmul_desc, "rRowStride", I64, r_row_stride),
    KP_FIELD(kp_matmul_desc, "rColStride", I64, r_col_stride),
    KP_FIELD(kp_matmul_desc, "maxThreads", I32, max_threads),
    KP_FIELD(kp_matmul_desc, "allowTf32", I32, allow_tf32),
    KP_FIELD(kp_matmul_desc, "gpuKernel", I32, gpu_kernel),
    KP_FIELD(kp_matmul_desc, "gpuSplitK", I32, gpu_split_k),
};

const Field kAttentionFields[] = {
    KP_FIELD(kp_attention_desc, "dtype", I32, dtype),
    KP_FIELD(kp_attention_desc, "outDtype", I32, out_dtype),
    KP_FIELD(kp_attention_desc, "layout", I32, layout),
    KP_FIELD(kp_attention_desc, "batch", I64, batch),
    KP_FIELD(kp_attention_desc, "hq", I64, hq),
    KP_FIELD(kp_attention_desc, "hkv", I64, hkv),
    KP_FIELD(kp_attention_desc, "sq", I64, sq),
    KP_FIELD(kp_attention_desc, "skv", I64, skv),
    KP_FIELD(kp_attention_desc, "d", I64, d),
    KP_FIELD(kp_attention_desc, "dv", I64, dv),
    KP_FIELD(kp_attention_desc, "scale", F32, scale),
    KP_FIELD(kp_attention_desc, "causal", I32, causal),
    KP_FIELD(kp_attention_desc, "hasKvLengths", I32, has_kv_lengths),
    KP_FIELD(kp_attention_desc, "hasMask", I32, has_mask),
    KP_ARRAY(kp_attention_desc, "maskStrides", mask_stride, 4, -1),
    KP_FIELD(kp_attention_desc, "returnLse", I32, return_lse),
    KP_FIELD(kp_attention_desc, "maxThreads", I32, max_threads),
    KP_FIELD(kp_attention_desc, "allowP16", I32, allow_p16),
    KP_FIELD(kp_attention_desc, "gpuKernel", I32, gpu_kernel),
    KP_FIELD(kp_attention_desc, "gpuKeyTile", I32, gpu_key_tile),
};

template <size_t N>
size_t packed_size(const Field (&fields)[N]) {
  size_t n = 0;
  for (const Field& f : fields) n += f.kind == Kind::I64_ARRAY ? 1 + f.cap : 1;
  return n;
}

// An integer slot: finite, whole and within the field's type (else a TypeError naming the field).
int64_t integer(Napi::Env env, const char* name, double v, bool i32) {
  const double lim = i32 ? 2147483648.0 : 9223372036854775808.0;
  if (!(std::floor(v) == v) || v < -lim || v >= lim)
    throw Napi::TypeError::New(env, std::string("descriptor field '") + name + "' must be an integer in range, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

template <typename Desc, size_t N>
Desc unpack(const Napi::Value& value, const Field (&fields)[N]) {
  Napi::Env env = value.Env();
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(env, "an op descriptor must be a Float64Array");
  Napi::Float64Array a = value.As<Napi::Float64Array>();
  if (a.ElementLength() != packed_size(fields))
    throw Napi::TypeError::New(env, "an op descriptor must have " + std::to_string(packed_size(fields)) + " values, got " +
                                        std::to_string(a.ElementLength()));
  Desc d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  char* base = reinterpret_cast<char*>(&d);
  const double* v = a.Data();
  for (const Field& f : fields) {
    char* at = base + f.offset;
    if (f.kind == Kind::I32) {
      const int32_t x = static_cast<int32_t>(integer(env, f.name, *v++, true));
      std::memcpy(at, &x, sizeof x);
    } else if (f.kind == Kind::I64) {
      const int64_t x = integer(env, f.name, *v++, false);
      std::memcpy(at, &x, sizeof x);
    } else if (f.kind == Kind::F32) {
      const float x = static_cast<float>(*v++);
      std::memcpy(at, &x, sizeof x);
    } else {
      const int64_t count = integer(env, f.name, *v++, true);
      if (count < 0 || count > f.cap)
        throw Napi::RangeError::New(env, std::string("descriptor field '") + f.name + "' has " + std::to_string(count) +
                                             " values, at most " + std::to_string(f.cap));
      for (int i = 0; i < count; ++i) {
        const int64_t x = integer(env, f.name, v[i], false);
        std::memcpy(at + i * sizeof x, &x, sizeof x);
      }
      v += f.cap;
      if (f.count_at >= 0) {
        const int32_t c = static_cast<int32_t>(count);
        std::memcpy(base + f.count_at, &c, sizeof c);
      }
    }
  }
  return d;
}

template <size_t N>
Napi::Array names(Napi::Env env, const Field (&fields)[N]) {
  Napi::Array out = Napi::Array::New(env, N);
  for (size_t i = 0; i < N; ++i)
    out.Set(static_cast<uint32_t>(i), fields[i].kind == Kind::I64_ARRAY
                                          ? std::string(fields[i].name) + "[" + std::to_string(fields[i].cap) + "]"
                                          : std::string(fields[i].name));
  return out;
}

}  // namespace

kp_matmul_desc matmul_desc_from(const Napi::Value& v) { return unpack<kp_matmul_desc>(v, kMatmulFields); }
kp_attention_desc attention_desc_from(const Napi::Value& v) { return unpack<kp_attention_desc>(v, kAttentionFields); }

Napi::Object descriptor_fields(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("matmul", names(env, kMatmulFields));
  o.Set("attention", names(env, kAttentionFields));
  return o;
}

}  // namespace kpnode
