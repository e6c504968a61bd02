// Plain JS objects (built by src/backends/cpu from an op plan) to C ABI descriptors.
#include <cstring>
#include "addon.h"

namespace kpnode {
namespace {

int64_t i64(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("descriptor field '") + key + "' must be a number");
  return v.As<Napi::Number>().Int64Value();
}

double f64(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("descriptor field '") + key + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

void i64_array(const Napi::Object& o, const char* key, int64_t* out, uint32_t cap, int32_t* count) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string("descriptor field '") + key + "' must be an array");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > cap) throw Napi::RangeError::New(o.Env(), std::string("descriptor field '") + key + "' is too long");
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  if (count) *count = static_cast<int32_t>(a.Length());
}

// An optional integer field (absent or undefined: 0).
int64_t opt_i64(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? 0 : i64(o, key);
}

}  // namespace

kp_matmul_desc matmul_desc_from(const Napi::Object& o) {
  kp_matmul_desc d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = static_cast<kp_dtype>(i64(o, "dtype"));
  d.out_dtype = static_cast<kp_dtype>(i64(o, "outDtype"));
  d.trans_a = static_cast<int32_t>(i64(o, "transA"));
  d.trans_b = static_cast<int32_t>(i64(o, "transB"));
  d.m = i64(o, "m");
  d.n = i64(o, "n");
  d.k = i64(o, "k");
  i64_array(o, "batchShape", d.batch_shape, KP_MAX_BATCH_DIMS, &d.batch_rank);
  int32_t n = 0;
  i64_array(o, "aBatchStrides", d.a_batch_stride, KP_MAX_BATCH_DIMS, &n);
  i64_array(o, "bBatchStrides", d.b_batch_stride, KP_MAX_BATCH_DIMS, &n);
  d.alpha = static_cast<float>(f64(o, "alpha"));
  d.beta = static_cast<float>(f64(o, "beta"));
  d.activation = static_cast<kp_activation>(i64(o, "activation"));
  d.has_bias = static_cast<int32_t>(i64(o, "hasBias"));
  d.bias_dtype = static_cast<kp_dtype>(i64(o, "biasDtype"));
  d.has_residual = static_cast<int32_t>(i64(o, "hasResidual"));
  d.residual_dtype = static_cast<kp_dtype>(i64(o, "residualDtype"));
  i64_array(o, "rBatchStrides", d.r_batch_stride, KP_MAX_BATCH_DIMS, &n);
  d.r_row_stride = i64(o, "rRowStride");
  d.r_col_stride = i64(o, "rColStride");
  d.max_threads = static_cast<int32_t>(opt_i64(o, "maxThreads"));
  d.allow_tf32 = static_cast<int32_t>(opt_i64(o, "allowTf32"));
  return d;
}

kp_attention_desc attention_desc_from(const Napi::Object& o) {
  kp_attention_desc d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = static_cast<kp_dtype>(i64(o, "dtype"));
  d.out_dtype = static_cast<kp_dtype>(i64(o, "outDtype"));
  d.layout = static_cast<kp_layout>(i64(o, "layout"));
  d.batch = i64(o, "batch");
  d.hq = i64(o, "hq");
  d.hkv = i64(o, "hkv");
  d.sq = i64(o, "sq");
  d.skv = i64(o, "skv");
  d.d = i64(o, "d");
  d.dv = i64(o, "dv");
  d.scale = static_cast<float>(f64(o, "scale"));
  d.causal = static_cast<kp_causal>(i64(o, "causal"));
  d.has_kv_lengths = static_cast<int32_t>(i64(o, "hasKvLengths"));
  d.has_mask = static_cast<int32_t>(i64(o, "hasMask"));
  i64_array(o, "maskStrides", d.mask_stride, 4, nullptr);
  d.return_lse = static_cast<int32_t>(i64(o, "returnLse"));
  d.max_threads = static_cast<int32_t>(opt_i64(o, "maxThreads"));
  d.allow_p16 = static_cast<int32_t>(opt_i64(o, "allowP16"));
  return d;
}

}  // namespace kpnode
