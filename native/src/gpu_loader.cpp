// Lazy loading of the GPU backends. The core links no GPU runtime: it dlopens the vendor driver
// (libcuda.so.1, libmusa.so), asks it through the driver API (symbols found with dlsym) how many
// devices there are and what they are, and only when that reports at least one device dlopens the
// backend library (libkernelport_cuda.so / libkernelport_musa.so, next to the library holding this
// code), checks its ABI versions and wraps its plugin table (native/gpu/plugin.h) in a kp::Backend.
//
// musa without Moore Threads hardware: when libmusa.so (or its backend library) is missing but the
// emulated musa library is there (libkernelport_musa_emulated.so: the MUSA sources compiled by nvcc
// through native/test/musa_on_cuda/), musa devices are the CUDA driver's devices, marked emulated,
// and that library serves them. When nothing works the reason names every attempt.
//
// Everything is probed once per process and vendor; the outcome (a table, or the exact reason there
// is none) is kept. Environment overrides, for tests and unusual installs:
//   KERNELPORT_CUDA_DRIVER   path of the driver library instead of libcuda.so.1
//   KERNELPORT_CUDA_LIBRARY  path of the backend library instead of <dir of this library>/libkernelport_cuda.so
//   KERNELPORT_MUSA_DRIVER   path of the driver library instead of libmusa.so
//   KERNELPORT_MUSA_LIBRARY  path of the backend library instead of <dir>/libkernelport_musa.so
//   KERNELPORT_MUSA_EMULATED_LIBRARY  path of the emulated library instead of <dir>/libkernelport_musa_emulated.so;
//                                     "off" (or KERNELPORT_MUSA_EMULATED=0) disables emulation
//   KERNELPORT_MUSA_WARP_SIZE  emulated musa only: plan kernels as if the warp had this many lanes
//                              (32, 64 or 128), so the 128-lane variants of mp_21/mp_22 run on NVIDIA
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sys/stat.h>
#include <string>
#include <vector>

#include "backend.h"
#include "errors.h"
#include "../gpu/plugin.h"

namespace kp {
namespace {

// The few driver API entry points the probe needs. The signatures are the driver API's, written
// out here so that the core needs no vendor header; a vendor whose driver API follows the same
// shape (MUSA's mu* functions) reuses this code with its own prefix and attribute numbers.
using DrvInit = int (*)(unsigned);
using DrvGetCount = int (*)(int*);
using DrvGet = int (*)(int*, int);
using DrvGetName = int (*)(char*, int, int);
using DrvGetAttribute = int (*)(int*, int, int);
using DrvTotalMem = int (*)(size_t*, int);
using DrvVersion = int (*)(int*);
using DrvErrorString = int (*)(int, const char**);

struct VendorSpec {
  const char* backend;        // "cuda"
  const char* pretty;         // "CUDA"
  const char* driver;         // "libcuda.so.1"
  const char* driver_env;     // "KERNELPORT_CUDA_DRIVER"
  const char* library;        // "libkernelport_cuda.so"
  const char* library_env;    // "KERNELPORT_CUDA_LIBRARY"
  const char* prefix;         // "cu": cuInit, cuDeviceGetCount, ...
  const char* arch_prefix;    // "sm_"
  // Attribute numbers (CUdevice_attribute / MUdevice_attribute).
  int warp_size, clock_rate, multiprocessors, pci_bus, memory_clock, bus_width, l2, cc_major, cc_minor, smem_optin;
  int slot;                   // index of this vendor's state (vendor_state())
};

const VendorSpec kCuda = {"cuda", "CUDA", "libcuda.so.1", "KERNELPORT_CUDA_DRIVER", "libkernelport_cuda.so",
                          "KERNELPORT_CUDA_LIBRARY", "cu", "sm_", 10, 13, 16, 33, 36, 37, 38, 75, 76, 97, 0};
// MUSA's driver API (musa.h: muInit, muDeviceGetCount, muDeviceGet, muDeviceGetName,
// muDeviceGetAttribute, muDeviceTotalMem_v2, muDriverGetVersion, muGetErrorName/String) follows the
// CUDA driver API entry for entry, and MUdevice_attribute keeps CUdevice_attribute's numbering
// (MU_DEVICE_ATTRIBUTE_WARP_SIZE = 10, ..._COMPUTE_CAPABILITY_MAJOR/MINOR = 75/76 as in Ollama's MUSA
// discovery code, ..._MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97 as in vLLM-MUSA's kernels). The numbers
// other than 75/76 are taken on that correspondence, not read from an SDK here: an S4000 owner's
// `kernelport probe` confirms them (a wrong number shows as a 0 or an odd value, never a crash).
// Compute capability 2.1 / 2.2 / 3.1 is architecture mp_21 / mp_22 / mp_31.
const VendorSpec kMusa = {"musa", "MUSA", "libmusa.so", "KERNELPORT_MUSA_DRIVER", "libkernelport_musa.so",
                          "KERNELPORT_MUSA_LIBRARY", "mu", "mp_", 10, 13, 16, 33, 36, 37, 38, 75, 76, 97, 1};
constexpr const char* kMusaEmulatedLibrary = "libkernelport_musa_emulated.so";

struct Driver {
  bool ok = false;
  std::string reason;
  std::vector<kp_gpu_info> devices;
};

struct Loaded {
  bool ok = false;
  std::string reason;
  const kp_gpu_plugin* plugin = nullptr;
  Backend table{};
};

std::string driver_error(const VendorSpec& v, void* lib, const char* call, int code) {
  std::string name = std::to_string(code);
  auto err_name = reinterpret_cast<DrvErrorString>(dlsym(lib, (std::string(v.prefix) + "GetErrorName").c_str()));
  auto err_str = reinterpret_cast<DrvErrorString>(dlsym(lib, (std::string(v.prefix) + "GetErrorString").c_str()));
  const char* s = nullptr;
  std::string out = std::string(v.prefix) + call + " failed: ";
  if (err_name && err_name(code, &s) == 0 && s) out += std::string(s) + " (" + name + ")";
  else out += "error " + name;
  s = nullptr;
  if (err_str && err_str(code, &s) == 0 && s) out += ": " + std::string(s);
  return out;
}

template <class F>
F sym(void* lib, const VendorSpec& v, const char* name, std::string* missing) {
  void* p = dlsym(lib, (std::string(v.prefix) + name).c_str());
  if (!p && missing->empty()) *missing = std::string(v.prefix) + name;
  return reinterpret_cast<F>(p);
}

Driver probe_driver(const VendorSpec& v) {
  Driver out;
  const char* env = std::getenv(v.driver_env);
  const char* path = env && *env ? env : v.driver;
  dlerror();
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    out.reason = e ? e : (std::string(path) + ": cannot be loaded");
    return out;
  }
  // The driver stays loaded for the life of the process (unloading a GPU driver is never safe).
  std::string missing;
  auto init = sym<DrvInit>(lib, v, "Init", &missing);
  auto count = sym<DrvGetCount>(lib, v, "DeviceGetCount", &missing);
  auto get = sym<DrvGet>(lib, v, "DeviceGet", &missing);
  auto name = sym<DrvGetName>(lib, v, "DeviceGetName", &missing);
  auto attr = sym<DrvGetAttribute>(lib, v, "DeviceGetAttribute", &missing);
  auto mem = sym<DrvTotalMem>(lib, v, "DeviceTotalMem_v2", &missing);
  auto version = sym<DrvVersion>(lib, v, "DriverGetVersion", &missing);
  if (!missing.empty()) {
    out.reason = std::string(path) + " lacks " + missing + " (not a usable " + v.pretty + " driver)";
    return out;
  }
  int rc = init(0);
  if (rc != 0) {
    out.reason = driver_error(v, lib, "Init", rc);
    return out;
  }
  int n = 0;
  rc = count(&n);
  if (rc != 0) {
    out.reason = driver_error(v, lib, "DeviceGetCount", rc);
    return out;
  }
  if (n < 1) {
    out.reason = std::string("no ") + v.pretty + " device (" + v.prefix + "DeviceGetCount reports 0)";
    return out;
  }
  int drv = 0;
  version(&drv);
  for (int i = 0; i < n; i++) {
    kp_gpu_info info;
    std::memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    info.index = i;
    info.driver_version = drv;
    int dev = 0;
    rc = get(&dev, i);
    if (rc != 0) {
      out.reason = driver_error(v, lib, "DeviceGet", rc);
      return out;
    }
    name(info.name, sizeof info.name - 1, dev);
    auto a = [&](int which) {
      int x = 0;
      return attr(&x, which, dev) == 0 ? x : 0;
    };
    info.cc_major = a(v.cc_major);
    info.cc_minor = a(v.cc_minor);
    std::snprintf(info.arch, sizeof info.arch, "%s%d%d", v.arch_prefix, info.cc_major, info.cc_minor);
    info.multiprocessors = a(v.multiprocessors);
    info.warp_size = a(v.warp_size);
    info.clock_khz = a(v.clock_rate);
    info.memory_clock_khz = a(v.memory_clock);
    info.bus_width_bits = a(v.bus_width);
    info.pci_bus = a(v.pci_bus);
    info.l2_bytes = a(v.l2);
    info.shared_per_block_optin = a(v.smem_optin);
    size_t bytes = 0;
    if (mem(&bytes, dev) == 0) info.memory_bytes = static_cast<int64_t>(bytes);
    out.devices.push_back(info);
  }
  out.ok = true;
  return out;
}

struct Loaded;

// Per-vendor state: each vendor's driver probe and library load happen once per process.
struct VendorState {
  std::once_flag driver_once, load_once;
  Driver driver;
  Loaded* loaded = nullptr;
  const kp_gpu_plugin* plugin = nullptr;  // set once before any device of the vendor exists
};

VendorState& vendor_state(const VendorSpec& v) {
  static VendorState states[2];
  return states[v.slot];
}

Driver probe_musa(const VendorSpec& v);

const Driver& driver(const VendorSpec& v) {
  VendorState& st = vendor_state(v);
  std::call_once(st.driver_once, [&] { st.driver = v.slot == kMusa.slot ? probe_musa(v) : probe_driver(v); });
  return st.driver;
}

// Directory of the shared object holding this code (libkernelport.so or kernelport.node).
std::string own_dir() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&own_dir), &info) && info.dli_fname) {
    std::string p = info.dli_fname;
    const size_t slash = p.rfind('/');
    if (slash != std::string::npos) return p.substr(0, slash);
  }
  return ".";
}

bool file_exists(const std::string& path) {
  struct stat sb;
  return stat(path.c_str(), &sb) == 0 && S_ISREG(sb.st_mode);
}

// The emulated musa library's path, or "" when emulation is off or the library is not there.
std::string emulated_library_path(std::string* looked) {
  const char* off = std::getenv("KERNELPORT_MUSA_EMULATED");
  const char* env = std::getenv("KERNELPORT_MUSA_EMULATED_LIBRARY");
  if ((off && !std::strcmp(off, "0")) || (env && !std::strcmp(env, "off"))) {
    *looked = "emulation is off (KERNELPORT_MUSA_EMULATED=0)";
    return "";
  }
  const std::string path = env && *env ? std::string(env) : own_dir() + "/" + kMusaEmulatedLibrary;
  if (!file_exists(path)) {
    *looked = "no emulated build (" + path + " is absent; it is built when CMake finds nvcc)";
    return "";
  }
  return path;
}

// KERNELPORT_MUSA_WARP_SIZE for the emulated library: 0 when unset; -1 when invalid.
int forced_warp_size() {
  const char* s = std::getenv("KERNELPORT_MUSA_WARP_SIZE");
  if (!s || !*s) return 0;
  const int w = std::atoi(s);
  return w == 32 || w == 64 || w == 128 ? w : -1;
}

struct MusaRoute {
  bool emulated = false;
  std::string library;  // the library to load for musa
};
MusaRoute g_musa_route;  // written once, by probe_musa (under the driver once_flag)

// musa: the real driver first; without it (or with it but without a device, or without the real
// backend library), the emulated library over the CUDA driver; the reason names every attempt.
Driver probe_musa(const VendorSpec& v) {
  Driver real = probe_driver(v);
  const char* lib_env = std::getenv(v.library_env);
  const std::string real_lib = lib_env && *lib_env ? std::string(lib_env) : own_dir() + "/" + v.library;
  if (real.ok) {
    g_musa_route.library = real_lib;
    return real;
  }
  std::string looked;
  const std::string emu = emulated_library_path(&looked);
  Driver out;
  if (emu.empty()) {
    out.reason = real.reason;
    return out;
  }
  const Driver& cuda = driver(kCuda);
  if (!cuda.ok) {
    out.reason = real.reason + "; emulated build present (" + emu + ") but " + cuda.reason;
    return out;
  }
  const int forced = forced_warp_size();
  if (forced < 0) {
    out.reason = real.reason + "; emulated build present but KERNELPORT_MUSA_WARP_SIZE='" +
                 std::getenv("KERNELPORT_MUSA_WARP_SIZE") + "' is not 32, 64 or 128";
    return out;
  }
  out = cuda;
  for (auto& info : out.devices) {
    info.emulated = 1;
    if (forced > 0) info.warp_size = forced;
  }
  g_musa_route.emulated = true;
  g_musa_route.library = emu;
  return out;
}

// ---- the plugin wrapped as a kp::Backend -------------------------------------------------------
struct GpuState {
  const kp_gpu_plugin* p;
  void* inner;
};

[[noreturn]] void raise(const kp_gpu_plugin* p, kp_status s) {
  const char* m = p->last_error ? p->last_error() : nullptr;
  throw Error(s, m && *m ? m : kp_status_string(s));
}

template <int Slot>
void* gpu_create(int32_t, int32_t index, kp_status* status) {
  const kp_gpu_plugin* p = vendor_state(Slot == 0 ? kCuda : kMusa).plugin;
  void* inner = nullptr;
  const kp_status s = p->create(index, &inner);
  if (s != KP_OK) {
    const char* m = p->last_error ? p->last_error() : nullptr;
    *status = fail(s, m && *m ? m : "the GPU backend failed to initialise");
    return nullptr;
  }
  return new GpuState{p, inner};
}
void gpu_destroy(void* st) {
  auto* g = static_cast<GpuState*>(st);
  g->p->destroy(g->inner);
  delete g;
}
int32_t gpu_threads(void*) { return 1; }
void* gpu_alloc(void* st, size_t bytes) {
  auto* g = static_cast<GpuState*>(st);
  void* out = nullptr;
  const kp_status s = g->p->alloc(g->inner, bytes, &out);
  if (s != KP_OK) raise(g->p, s);
  return out;
}
void gpu_free(void* st, void* data) {
  auto* g = static_cast<GpuState*>(st);
  g->p->free(g->inner, data);
}
void gpu_write(void* st, void* dst, const void* src, size_t bytes) {
  auto* g = static_cast<GpuState*>(st);
  const kp_status s = g->p->write(g->inner, dst, src, bytes);
  if (s != KP_OK) raise(g->p, s);
}
void gpu_read(void* st, const void* src, void* dst, size_t bytes) {
  auto* g = static_cast<GpuState*>(st);
  const kp_status s = g->p->read(g->inner, src, dst, bytes);
  if (s != KP_OK) raise(g->p, s);
}
void gpu_copy(void* st, void* dst, size_t dst_stride, const void* src, size_t src_stride, size_t row_bytes, size_t rows) {
  auto* g = static_cast<GpuState*>(st);
  const kp_status s = g->p->copy(g->inner, dst, dst_stride, src, src_stride, row_bytes, rows);
  if (s != KP_OK) raise(g->p, s);
}
void gpu_matmul(void* st, const kp_matmul_desc& d, const void* a, const void* b, const void* bias, const void* residual,
                void* out) {
  auto* g = static_cast<GpuState*>(st);
  const kp_status s = g->p->matmul(g->inner, &d, a, b, bias, residual, out);
  if (s != KP_OK) raise(g->p, s);
}
void gpu_attention(void* st, const kp_attention_desc& d, const void* q, const void* k, const void* v,
                   const int32_t* kv_lengths, const int32_t* kv_lengths_host, const float* mask, void* out, float* lse) {
  auto* g = static_cast<GpuState*>(st);
  const kp_status s = g->p->attention(g->inner, &d, q, k, v, kv_lengths, kv_lengths_host, mask, out, lse);
  if (s != KP_OK) raise(g->p, s);
}

void gpu_finish(void* st) {
  auto* g = static_cast<GpuState*>(st);
  const kp_status s = g->p->sync(g->inner);
  if (s != KP_OK) raise(g->p, s);
}

std::string gpu_explain(void* st, int32_t op, const void* desc) {
  auto* g = static_cast<GpuState*>(st);
  char out[256] = {0};
  const kp_status s = g->p->explain(g->inner, op, desc, out, sizeof out);
  if (s != KP_OK) raise(g->p, s);
  return out;
}

Loaded load_library(const VendorSpec& v) {
  Loaded out;
  const Driver& drv = driver(v);
  if (!drv.ok) {
    out.reason = drv.reason;
    return out;
  }
  const char* env = std::getenv(v.library_env);
  const bool musa = v.slot == kMusa.slot;
  const std::string path = musa ? g_musa_route.library : env && *env ? std::string(env) : own_dir() + "/" + v.library;
  dlerror();
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    out.reason = std::string("the ") + (musa && g_musa_route.emulated ? "emulated musa" : v.backend) +
                 " backend library does not load (" + (e ? e : path) +
                 "); it is built when CMake finds the vendor compiler (npm run build:native)";
    return out;
  }
  auto reg = reinterpret_cast<kp_backend_register_fn>(dlsym(lib, "kp_backend_register"));
  if (!reg) {
    out.reason = path + " does not export kp_backend_register";
    return out;
  }
  const kp_gpu_plugin* p = reg(KP_GPU_PLUGIN_ABI, KP_ABI_VERSION);
  if (!p || p->plugin_abi != KP_GPU_PLUGIN_ABI || p->core_abi != KP_ABI_VERSION || p->struct_size < sizeof(kp_gpu_plugin)) {
    out.reason = path + " was built for another kernelport ABI (plugin ABI " + (p ? std::to_string(p->plugin_abi) : "?") +
                 ", core ABI " + (p ? std::to_string(p->core_abi) : "?") + "; this core has plugin ABI " +
                 std::to_string(KP_GPU_PLUGIN_ABI) + ", core ABI " + std::to_string(KP_ABI_VERSION) +
                 "); rebuild with npm run build:native";
    return out;
  }
  if (!p->name || std::strcmp(p->name, v.backend) != 0) {
    out.reason = path + " registers as backend '" + (p->name ? p->name : "") + "', not '" + v.backend + "'";
    return out;
  }
  vendor_state(v).plugin = p;
  out.plugin = p;
  out.table = Backend{p->name, musa ? gpu_create<1> : gpu_create<0>, gpu_destroy, gpu_threads, gpu_alloc, gpu_free,
                      gpu_matmul, gpu_attention, gpu_write, gpu_read, gpu_copy, gpu_finish};
  out.table.explain = gpu_explain;
  out.ok = true;
  return out;
}

const Loaded& loaded(const VendorSpec& v) {
  VendorState& st = vendor_state(v);
  std::call_once(st.load_once, [&] { st.loaded = new Loaded(load_library(v)); });  // kept for the process
  return *st.loaded;
}

const VendorSpec* vendor(const std::string& backend) {
  if (backend == "cuda") return &kCuda;
  if (backend == "musa") return &kMusa;
  return nullptr;
}

}  // namespace

const Backend* gpu_backend(const std::string& name, int32_t* index) {
  const size_t colon = name.find(':');
  const std::string base = name.substr(0, colon);
  const VendorSpec* v = vendor(base);
  if (!v) return nullptr;
  *index = 0;
  if (colon != std::string::npos) {
    const std::string num = name.substr(colon + 1);
    char* end = nullptr;
    const long i = std::strtol(num.c_str(), &end, 10);
    if (num.empty() || *end != '\0' || i < 0 || i > 1023)
      throw Error(KP_ERR_INVALID_ARGUMENT, "device '" + name + "': expected " + base + " or " + base + ":<index>");
    *index = static_cast<int32_t>(i);
  }
  const Loaded& l = loaded(*v);
  if (!l.ok) throw Error(KP_ERR_UNAVAILABLE, l.reason);
  const int32_t n = static_cast<int32_t>(driver(*v).devices.size());
  if (*index >= n)
    throw Error(KP_ERR_UNAVAILABLE, "device '" + name + "' does not exist: the driver reports " + std::to_string(n) + " " +
                                        v->pretty + " device" + (n == 1 ? "" : "s"));
  return &l.table;
}

}  // namespace kp

extern "C" {

KP_API kp_status kp_gpu_probe(const char* backend, kp_gpu_info* out, int32_t cap, int32_t* count) {
  if (!backend || !count || (cap > 0 && !out)) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_gpu_probe: backend and count are required");
  kp::clear_error();
  *count = 0;
  const kp::VendorSpec* v = kp::vendor(backend);
  if (!v) return kp::fail(KP_ERR_INVALID_ARGUMENT, std::string("kp_gpu_probe: '") + backend + "' is not a GPU backend");
  try {
    const kp::Driver& d = kp::driver(*v);
    if (!d.ok) return kp::fail(KP_ERR_UNAVAILABLE, d.reason);
    *count = static_cast<int32_t>(d.devices.size());
    for (int32_t i = 0; i < cap && i < *count; i++) {
      const uint32_t want = out[i].struct_size ? out[i].struct_size : sizeof(kp_gpu_info);
      kp_gpu_info info = d.devices[static_cast<size_t>(i)];
      std::memcpy(&out[i], &info, want < sizeof info ? want : sizeof info);
      out[i].struct_size = want < sizeof info ? want : static_cast<uint32_t>(sizeof info);
    }
    return KP_OK;
  } catch (const std::exception& e) {
    return kp::fail(KP_ERR_INTERNAL, e.what());
  }
}

KP_API kp_status kp_gpu_backend_load(const char* backend, char* variants, size_t cap) {
  if (!backend) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_gpu_backend_load: backend is required");
  kp::clear_error();
  const kp::VendorSpec* v = kp::vendor(backend);
  if (!v) return kp::fail(KP_ERR_INVALID_ARGUMENT, std::string("kp_gpu_backend_load: '") + backend + "' is not a GPU backend");
  try {
    const kp::Loaded& l = kp::loaded(*v);
    if (!l.ok) return kp::fail(KP_ERR_UNAVAILABLE, l.reason);
    if (variants && cap) std::snprintf(variants, cap, "%s", l.plugin->variants ? l.plugin->variants : "");
    return KP_OK;
  } catch (const std::exception& e) {
    return kp::fail(KP_ERR_INTERNAL, e.what());
  }
}

}  // extern "C"
