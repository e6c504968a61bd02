// TEST-ONLY: the MUSA runtime names that native/vendors/musa.h uses, mapped back onto the CUDA
// runtime, so that nvcc compiles the MUSA build of the GPU backend (host code and kernels, exactly as
// they go through vendors/musa.h) and it runs on an NVIDIA GPU. Never shipped, never on the include
// path of a real MUSA build (CMake option KP_MUSA_EMULATE puts this directory first; see
// CMakeLists.txt). Each name is a #define onto its CUDA twin: a name vendors/musa.h starts using
// without a line here fails the emulated build, which is the point.
#pragma once
#include <cuda_runtime.h>

// The compiler macros: __MUSACC__ marks "compiled by the MUSA compiler" like __CUDACC__. __MUSA_ARCH__
// is deliberately not mapped: a MUSA-architecture-specific path (none exists yet) must not be
// compiled for an NVIDIA target.
#if defined(__CUDACC__) && !defined(__MUSACC__)
#define __MUSACC__ 1
#endif
#define KP_MUSA_ON_CUDA 1

// Types and values.
#define musaError_t cudaError_t
#define musaStream_t cudaStream_t
#define musaEvent_t cudaEvent_t
#define musaDeviceAttr cudaDeviceAttr
#define musaSuccess cudaSuccess
#define musaErrorNotReady cudaErrorNotReady
#define musaErrorMemoryAllocation cudaErrorMemoryAllocation
#define musaErrorIllegalAddress cudaErrorIllegalAddress
#define musaErrorLaunchFailure cudaErrorLaunchFailure
#define musaErrorHardwareStackError cudaErrorHardwareStackError
#define musaErrorIllegalInstruction cudaErrorIllegalInstruction
#define musaErrorMisalignedAddress cudaErrorMisalignedAddress
#define musaErrorInvalidAddressSpace cudaErrorInvalidAddressSpace
#define musaErrorInvalidPc cudaErrorInvalidPc
#define musaErrorAssert cudaErrorAssert
#define musaErrorECCUncorrectable cudaErrorECCUncorrectable
#define musaErrorLaunchTimeout cudaErrorLaunchTimeout
#define musaErrorContextIsDestroyed cudaErrorContextIsDestroyed
#define musaErrorDevicesUnavailable cudaErrorDevicesUnavailable
#define musaDevAttrWarpSize cudaDevAttrWarpSize
#define musaDevAttrMultiProcessorCount cudaDevAttrMultiProcessorCount
#define musaDevAttrComputeCapabilityMajor cudaDevAttrComputeCapabilityMajor
#define musaDevAttrComputeCapabilityMinor cudaDevAttrComputeCapabilityMinor
#define musaDevAttrMaxSharedMemoryPerBlockOptin cudaDevAttrMaxSharedMemoryPerBlockOptin
#define musaDevAttrL2CacheSize cudaDevAttrL2CacheSize
#define musaMemcpyHostToDevice cudaMemcpyHostToDevice
#define musaMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define musaMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define musaStreamNonBlocking cudaStreamNonBlocking
#define musaEventDisableTiming cudaEventDisableTiming
#define musaFuncAttributeMaxDynamicSharedMemorySize cudaFuncAttributeMaxDynamicSharedMemorySize

// Functions.
#define musaSetDevice cudaSetDevice
#define musaGetDeviceCount cudaGetDeviceCount
#define musaDeviceGetAttribute cudaDeviceGetAttribute
#define musaMemGetInfo cudaMemGetInfo
#define musaMalloc cudaMalloc
#define musaFree cudaFree
#define musaMallocHost cudaMallocHost
#define musaFreeHost cudaFreeHost
#define musaMemcpyAsync cudaMemcpyAsync
#define musaMemcpy2DAsync cudaMemcpy2DAsync
#define musaMemsetAsync cudaMemsetAsync
#define musaStreamCreateWithFlags cudaStreamCreateWithFlags
#define musaStreamDestroy cudaStreamDestroy
#define musaStreamSynchronize cudaStreamSynchronize
#define musaEventCreateWithFlags cudaEventCreateWithFlags
#define musaEventDestroy cudaEventDestroy
#define musaEventRecord cudaEventRecord
#define musaEventQuery cudaEventQuery
#define musaGetLastError cudaGetLastError
#define musaGetErrorName cudaGetErrorName
#define musaGetErrorString cudaGetErrorString
#define musaFuncSetAttribute cudaFuncSetAttribute
