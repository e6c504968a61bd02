#!/usr/bin/env bash
# The cheaper exact GELU (gelu_exact in kernels/gpu/common.cuh) on the H100, after the gpu-check run of
# this folder: the fused GEMM's block timeline, the fused and plain 512x4096x4096 beside torch, the
# activation sweep on the SIMT, mma.sync and wgmma GEMMs, and validate --quick on matmul. Run from the
# repository root after `bash .gpu/unpack.sh`, with node on PATH; results in $1.
set -uo pipefail
O=$1
T0=$(date +%s)
step() { echo "=== $* (+$(( $(date +%s) - T0 )) s)"; }
step trace
timeout 60 build/wgmma_trace 512 | tee "$O/gelu-wgmma-trace.txt" | head -8
step bench
timeout 60 node bench/peers/kp_gpu_bench.mjs --backend cuda --only gemm_bias_gelu_bf16_512x4096x4096,gemm_bf16_512x4096x4096,gemm_bf16_4096 > "$O/gelu-bench-kernelport.json"
timeout 90 python3 bench/peers/torch_bench.py --suite cuda --quick > "$O/gelu-bench-torch.json"
python3 bench/peers/compare_gpu.py "$O/gelu-bench-kernelport.json" "$O/gelu-bench-torch.json" | tee "$O/gelu-bench.txt"
step sweep
for g in auto mma wgmma; do
  echo "KERNELPORT_GPU_GEMM=$g"
  KERNELPORT_GPU_GEMM=$g timeout 60 node test/fixtures/matmul-activation-sweep.mjs
done | tee "$O/gelu-sweep.txt"
step validate
timeout 60 node dist/cli/main.js validate --quick --ops matmul --backends cuda --md "$O/gelu-validate-quick.md" | tail -8
step done
