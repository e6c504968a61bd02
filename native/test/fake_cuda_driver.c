/* A stand-in for libcuda.so.1 with the few driver API entry points the core's GPU probe uses, so
 * that the lazy-loading path (driver probe -> backend library -> ABI check -> device creation) is
 * tested on machines without an NVIDIA driver (test/cuda.test.ts, KERNELPORT_CUDA_DRIVER=<this>).
 * Environment: KP_FAKE_CUDA_DEVICES (default 1), KP_FAKE_CUDA_INIT_ERROR (a CUresult for cuInit),
 * KP_FAKE_CUDA_NAME (default "NVIDIA H20"). Device figures are an H20's as the driver reports them. */
#include <stdlib.h>
#include <string.h>

#define API __attribute__((visibility("default")))

static int env_int(const char* name, int dflt) {
  const char* s = getenv(name);
  return s && *s ? atoi(s) : dflt;
}

API int cuInit(unsigned flags) {
  (void)flags;
  return env_int("KP_FAKE_CUDA_INIT_ERROR", 0);
}
API int cuDeviceGetCount(int* n) {
  *n = env_int("KP_FAKE_CUDA_DEVICES", 1);
  return 0;
}
API int cuDeviceGet(int* dev, int ordinal) {
  if (ordinal < 0 || ordinal >= env_int("KP_FAKE_CUDA_DEVICES", 1)) return 101; /* CUDA_ERROR_INVALID_DEVICE */
  *dev = ordinal;
  return 0;
}
API int cuDeviceGetName(char* name, int len, int dev) {
  (void)dev;
  const char* s = getenv("KP_FAKE_CUDA_NAME");
  strncpy(name, s && *s ? s : "NVIDIA H20", (size_t)len);
  name[len - 1] = 0;
  return 0;
}
API int cuDeviceGetAttribute(int* v, int attr, int dev) {
  (void)dev;
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
  return 0;
}
API int cuDeviceTotalMem_v2(size_t* bytes, int dev) {
  (void)dev;
  *bytes = (size_t)96 << 30;
  return 0;
}
API int cuDriverGetVersion(int* v) {
  *v = 13000;
  return 0;
}
API int cuGetErrorName(int e, const char** s) {
  *s = e == 100 ? "CUDA_ERROR_NO_DEVICE" : e == 999 ? "CUDA_ERROR_UNKNOWN" : "CUDA_ERROR_FAKE";
  return 0;
}
API int cuGetErrorString(int e, const char** s) {
  *s = e == 100 ? "no CUDA-capable device is detected" : "fake driver error";
  return 0;
}
