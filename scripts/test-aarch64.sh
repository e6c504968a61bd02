#!/usr/bin/env bash
# Builds the native core and its C ABI test for aarch64 and runs the test under qemu-aarch64.
# Needs Debian's g++-aarch64-linux-gnu and qemu-user (apt-get install g++-aarch64-linux-gnu qemu-user).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install g++-aarch64-linux-gnu qemu-user" >&2; exit 2; }
done
build=build-aarch64
# KP_CUDA=OFF: the host nvcc cannot target aarch64 (and the cuda backend is not what this tests).
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release -DKP_CUDA=OFF -DKP_MUSA=OFF >/dev/null
cmake --build "$build" --target kp_abi_test kp_stress_test -j"$(nproc)" >/dev/null
dir=$(dirname "$(find "$build" -name kp_abi_test -type f | head -1)")
for isa in neon generic; do
  echo "== KERNELPORT_CPU_ISA=$isa"
  KERNELPORT_CPU_ISA=$isa qemu-aarch64 -L /usr/aarch64-linux-gnu "$dir/kp_abi_test"
  KERNELPORT_CPU_ISA=$isa qemu-aarch64 -L /usr/aarch64-linux-gnu "$dir/kp_stress_test" 20
done
