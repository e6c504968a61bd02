#!/usr/bin/env bash
# Builds the hand-built tensor-core checks into build/ when missing or older than a source they are built
# from: build/attention_mma_check always; build/wgmma_check and build/wgmma_trace for sm_90 (sm_90a target).
#   bash scripts/build-gpu-checks.sh [--sm90]
# gpu-check.sh runs it on the GPU machine; gpu-bundle.sh runs it here with --sm90, so that a lent H100/H200
# spends no device time in nvcc (without --sm90 the attention check is built for the local GPU, -arch=native).
set -uo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$0")/.."
SM90=0
[ "${1:-}" = --sm90 ] && SM90=1
NVCC="${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
# KP_GPU_VENDOR_CUDA as CMake builds the library: common.cuh takes NVIDIA instructions with it (the
# GELU's ex2/rcp; without it, IEEE division: a trace of 2026-11-27 timed that, not the library)
FLAGS=(-std=c++17 -DKP_GPU_VENDOR_CUDA -Inative/include -Inative/gpu -Ikernels)
SM90A=(-gencode=arch=compute_90a,code=sm_90a -DKP_CUDA_SM90A=1)
status=0
# (this script among the sources: a change to its flags rebuilds them)
stale() { [ ! -x "$1" ] || [ -n "$(find kernels/gpu native/gpu native/vendors native/include native/test/wgmma_test_util.h "$SELF" "$2" -newer "$1" -print -quit)" ]; }
build() {  # output, main source, nvcc arguments...
  local out=$1 main=$2; shift 2
  stale "$out" "$main" || return 0
  echo "build-gpu-checks: $out"
  "$NVCC" "${FLAGS[@]}" "$@" "$main" -o "$out" || { echo "build-gpu-checks: $out did not build" >&2; status=1; }
}
if [ $SM90 -eq 1 ]; then
  build build/wgmma_check native/test/wgmma_check.cu -O3 "${SM90A[@]}" kernels/gpu/gemm*.cu kernels/gpu/fault.cu
  # gemm_wgmma.cu built with KP_WGMMA_TRACE: each block's timeline from the global timer
  build build/wgmma_trace native/test/wgmma_trace.cu -O3 "${SM90A[@]}" -DKP_WGMMA_TRACE kernels/gpu/gemm*.cu kernels/gpu/fault.cu
  ATTN_ARCH=("${SM90A[@]}")  # so that the wgmma attention has its body and may be chosen
else
  ATTN_ARCH=(-arch=native)
fi
# The attention check's target beside it: a carried sm_90a build is rebuilt on another GPU.
TARGET=$([ $SM90 -eq 1 ] && echo sm_90a || echo native)
[ "$(cat build/attention_mma_check.target 2>/dev/null)" = "$TARGET" ] || rm -f build/attention_mma_check
build build/attention_mma_check native/test/attention_mma_check.cu -O2 "${ATTN_ARCH[@]}" kernels/gpu/attention.cu \
  kernels/gpu/attention_mma.cu kernels/gpu/attention_wgmma.cu kernels/gpu/attention_decode.cu &&
  [ -x build/attention_mma_check ] && echo "$TARGET" > build/attention_mma_check.target
exit $status
