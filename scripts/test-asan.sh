#!/usr/bin/env bash
# Builds the native core and its native tests with AddressSanitizer + UndefinedBehaviorSanitizer and
# runs them: the C ABI test and the randomised stress test (kernels, bounds checks, concurrency). Then
# the GPU kernels on the CPU emulator, sanitized, every buffer at its exact size
# (KERNELPORT_GPU_EXACT_ALLOC): validate on the default and the forced tensor-core paths (mma.sync, and
# sm_90's wgmma GEMM, alone and in clusters, and attention), so a kernel reading or writing past a buffer
# fails here. That step needs the regular build (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-asan
cmake -S . -B "$build" -DKP_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKP_CUDA=OFF -DKP_MUSA=OFF -DKP_GPU_EMU=ON >/dev/null
cmake --build "$build" --target kp_abi_test kp_stress_test kernelport_gpu_emu -j"$(nproc)" >/dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
dir=$(dirname "$(find "$build" -name kp_abi_test -type f | head -1)")
echo "== kp_abi_test (asan+ubsan)"
"$dir/kp_abi_test"
echo "== kp_stress_test (asan+ubsan)"
"$dir/kp_stress_test" "${1:-40}"

emu=$(find "$build" -name libkernelport_gpu_emu.so -type f | head -1)
if [ -f build/Release/kernelport.node ] && [ -f dist/cli/main.js ]; then
  for forced in auto mma wgmma wgmma-cluster wgmma-cluster2x2; do
    echo "== gpu kernels on the CPU emulator, $forced paths (asan+ubsan)"
    # The sanitizer runtime first in the process (node itself is not instrumented); node's own
    # allocations at exit are not this test's business (detect_leaks=0).
    LD_PRELOAD="$(${CXX:-g++} -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
      KERNELPORT_CUDA_DRIVER="$PWD/build/Release/libkp_fake_cuda_driver.so" KERNELPORT_CUDA_LIBRARY="$PWD/$emu" \
      KERNELPORT_GPU_EXACT_ALLOC=1 KERNELPORT_GPU_GEMM=$forced KERNELPORT_GPU_ATTENTION=${forced%%-cluster*} \
      node dist/cli/main.js validate --quick --backends cuda | tail -1
  done
else
  echo "== gpu kernels on the CPU emulator: skipped, no regular build (npm run build)"
fi
