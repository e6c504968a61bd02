// A kernel that faults on purpose, for the tests of the "device lost" path: a write to an address no
// allocation has, which every driver reports as a context-destroying (sticky) error. Launched only
// when KERNELPORT_GPU_INJECT_FAULT is set (see backend_gpu.cpp), never by an op's own path.
#include "common.cuh"

namespace kp {
namespace gpu {
namespace {

KP_GPU_GLOBAL void write_to_unmapped_address(int64_t address) {
#if defined(KP_GPU_VENDOR_EMU)
  (void)address;
  ::kp_emu::raise_fault("write to an unmapped address (injected)");  // a real write would end the process
#else
  *reinterpret_cast<volatile int*>(address) = 1;
#endif
}

}  // namespace

const char* launch_fault(kp_gpu_stream_t stream) {
  // 8 KiB: below any mapping, yet not the null page a compiler may treat as undefined behaviour.
  KP_GPU_LAUNCH(write_to_unmapped_address, dim3(1), dim3(1), 0, stream)(int64_t{8192});
  return "injected-fault";
}

}  // namespace gpu
}  // namespace kp
