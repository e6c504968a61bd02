/* A GPU backend library built for another plugin ABI: the core must refuse it with a message naming
 * both versions (test/cuda.test.ts, KERNELPORT_CUDA_LIBRARY=<this>). */
#include "../gpu/plugin.h"

static const kp_gpu_plugin table = {.struct_size = sizeof(kp_gpu_plugin), .plugin_abi = KP_GPU_PLUGIN_ABI + 97, .core_abi = KP_ABI_VERSION, .name = "cuda", .variants = ""};

KP_API const kp_gpu_plugin* kp_backend_register(uint32_t plugin_abi, uint32_t core_abi) {
  (void)plugin_abi;
  (void)core_abi;
  return &table;
}
