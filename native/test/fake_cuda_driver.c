/* A stand-in for libcuda.so.1 with the few driver API entry points the core's GPU probe uses, so
 * that the lazy-loading path (driver probe -> backend library -> ABI check -> device creation) is
 * tested on machines without an NVIDIA driver (test/cuda.test.ts, KERNELPORT_CUDA_DRIVER=<this>).
 * Environment: KP_FAKE_CUDA_DEVICES (default 1), KP_FAKE_CUDA_INIT_ERROR (a CUresult for cuInit),
 * KP_FAKE_CUDA_NAME (default "NVIDIA H20"). Device figures are an H20's as the driver reports them.
 *
 * Built a second time with KP_FAKE_MUSA as a stand-in for libmusa.so (test/musa.test.ts,
 * KERNELPORT_MUSA_DRIVER=<that>): the same entry points with MUSA's "mu" prefix, environment
 * KP_FAKE_MUSA_DEVICES / _INIT_ERROR / _NAME / _WARP (default 128) / _CC (default 22), and an
 * MTT S4000's figures (mp_22, 128-thread warps). The attribute numbers are the same in both driver
 * APIs (see the musa VendorSpec in native/src/gpu_loader.cpp). */
#include <stdlib.h>
#include <string.h>

#define API __attribute__((visibility("default")))

#ifdef KP_FAKE_MUSA
#define FN(name) mu##name
#define ENV(name) "KP_FAKE_MUSA_" name
#define DEFAULT_NAME "MTT S4000"
#define ERR_NO_DEVICE_NAME "MUSA_ERROR_NO_DEVICE"
#define ERR_UNKNOWN_NAME "MUSA_ERROR_UNKNOWN"
#define ERR_FAKE_NAME "MUSA_ERROR_FAKE"
#define ERR_NO_DEVICE_TEXT "no MUSA-capable device is detected"
#else
#define FN(name) cu##name
#define ENV(name) "KP_FAKE_CUDA_" name
#define DEFAULT_NAME "NVIDIA H20"
#define ERR_NO_DEVICE_NAME "CUDA_ERROR_NO_DEVICE"
#define ERR_UNKNOWN_NAME "CUDA_ERROR_UNKNOWN"
#define ERR_FAKE_NAME "CUDA_ERROR_FAKE"
#define ERR_NO_DEVICE_TEXT "no CUDA-capable device is detected"
#endif

static int env_int(const char* name, int dflt) {
  const char* s = getenv(name);
  return s && *s ? atoi(s) : dflt;
}

API int FN(Init)(unsigned flags) {
  (void)flags;
  return env_int(ENV("INIT_ERROR"), 0);
}
API int FN(DeviceGetCount)(int* n) {
  *n = env_int(ENV("DEVICES"), 1);
  return 0;
}
API int FN(DeviceGet)(int* dev, int ordinal) {
  if (ordinal < 0 || ordinal >= env_int(ENV("DEVICES"), 1)) return 101; /* ..._ERROR_INVALID_DEVICE */
  *dev = ordinal;
  return 0;
}
API int FN(DeviceGetName)(char* name, int len, int dev) {
  (void)dev;
  const char* s = getenv(ENV("NAME"));
  strncpy(name, s && *s ? s : DEFAULT_NAME, (size_t)len);
  name[len - 1] = 0;
  return 0;
}
API int FN(DeviceGetAttribute)(int* v, int attr, int dev) {
  (void)dev;
#ifdef KP_FAKE_MUSA
  const int cc = env_int(ENV("CC"), 22);
  switch (attr) {
    case 10: *v = env_int(ENV("WARP"), 128); break; /* warp size: mp_21/mp_22 report 128 */
    case 13: *v = 1750000; break;     /* clock, kHz */
    case 16: *v = 48; break;          /* multiprocessors */
    case 33: *v = 65; break;          /* PCI bus */
    case 36: *v = 8000000; break;     /* memory clock, kHz */
    case 37: *v = 384; break;         /* bus width, bits */
    case 38: *v = 8 << 20; break;     /* L2 bytes */
    case 75: *v = cc / 10; break;     /* compute capability: mp_22 -> 2.2 */
    case 76: *v = cc % 10; break;
    case 97: *v = 72 << 10; break;    /* shared memory per block, opt-in */
    default: return 1;                /* MUSA_ERROR_INVALID_VALUE */
  }
#else
  switch (attr) {
    case 10: *v = 32; break;          /* warp size */
    case 13: *v = 1980000; break;     /* clock, kHz */
    case 16: *v = 78; break;          /* multiprocessors */
    case 33: *v = 24; break;          /* PCI bus */
    case 36: *v = 2619000; break;     /* memory clock, kHz */
    case 37: *v = 6144; break;        /* bus width, bits */
    case 38: *v = 60 << 20; break;    /* L2 bytes */
    case 75: *v = 9; break;           /* compute capability */
    case 76: *v = 0; break;
    case 97: *v = 232448; break;      /* shared memory per block, opt-in */
    default: return 1;                /* CUDA_ERROR_INVALID_VALUE */
  }
#endif
  return 0;
}
API int FN(DeviceTotalMem_v2)(size_t* bytes, int dev) {
  (void)dev;
#ifdef KP_FAKE_MUSA
  *bytes = (size_t)48 << 30;
#else
  *bytes = (size_t)96 << 30;
#endif
  return 0;
}
API int FN(DriverGetVersion)(int* v) {
#ifdef KP_FAKE_MUSA
  *v = 40100;
#else
  *v = 13000;
#endif
  return 0;
}
API int FN(GetErrorName)(int e, const char** s) {
  *s = e == 100 ? ERR_NO_DEVICE_NAME : e == 999 ? ERR_UNKNOWN_NAME : ERR_FAKE_NAME;
  return 0;
}
API int FN(GetErrorString)(int e, const char** s) {
  *s = e == 100 ? ERR_NO_DEVICE_TEXT : "fake driver error";
  return 0;
}
