#!/usr/bin/env bash
# npm run gpu:check — the cuda backend on an NVIDIA GPU machine, as one prepared command:
#   1. build (native core, the cuda backend library, TypeScript)
#   2. the cuda tests and the shared numerics suites on cuda (tensor-core GEMM forced on as well)
#   3. kernelport validate --full --backends cuda (and with the tensor-core GEMM / attention forced, the
#      sm_90 wgmma attention among them)
#   4. the issue's benchmark shapes beside PyTorch on the same GPU, with ratios and goals (the attention
#      shapes again on the wgmma kernel)
#   5. webgpu through Dawn's Vulkan backend on the NVIDIA driver (when a Vulkan loader is present): its
#      tests, validate, and #6's bench shapes beside PyTorch
#   6. the emulated musa backend (the MUSA build through native/vendors/musa.h, compiled by nvcc via
#      native/test/musa_on_cuda/) on the same GPU: its tests, the numerics suites, validate --full,
#      and all of it again with KERNELPORT_MUSA_WARP_SIZE=128 (the mp_21/mp_22 warp) forced
# Results go to $GPU_CHECK_OUT (default bench/results/gpu-check). Without a GPU it fails at once.
# Options: --quick (shorter validate and bench), --no-build, --no-torch, --musa-only (step 6 alone),
# --no-cuda / --no-webgpu / --no-musa (skip a step), --sm90 (what is new on Hopper, in a few minutes:
# validate --quick, the attention tests, the wgmma GEMM check alone and in clusters, the attention
# check, validate --full on the opt-in wgmma paths, the bench beside torch with their A/B rows, and
# `kernelport tune --backends cuda` on the issue's shapes). Each step is stopped after GPU_CHECK_STEP_LIMIT
# seconds (default 600): a kernel that never returns must not hold a lent machine.
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0; BUILD=1; TORCH=1; CUDA=1; WEBGPU=1; MUSA=1; SM90_ONLY=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    --no-build) BUILD=0 ;;
    --no-torch) TORCH=0 ;;
    --musa-only) CUDA=0; WEBGPU=0 ;;
    --no-cuda) CUDA=0 ;;
    --no-webgpu) WEBGPU=0 ;;
    --no-musa) MUSA=0 ;;
    --sm90) SM90_ONLY=1; WEBGPU=0; MUSA=0 ;;
    *) echo "gpu-check: unknown option $a (--quick, --no-build, --no-torch, --musa-only, --no-cuda, --no-webgpu, --no-musa, --sm90)" >&2; exit 2 ;;
  esac
done
LIMIT="${GPU_CHECK_STEP_LIMIT:-600}"
# vitest through node itself: GPU machines may have node (carried) but no npm/npx
VITEST=(node node_modules/vitest/vitest.mjs run)
OUT="${GPU_CHECK_OUT:-bench/results/gpu-check}"
mkdir -p "$OUT"

# Fail fast: the driver and a device, before spending minutes on a build.
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1' && [ -z "${KERNELPORT_CUDA_DRIVER:-}" ] && \
   ! ls /usr/lib/x86_64-linux-gnu/libcuda.so.1 /usr/lib64/libcuda.so.1 /usr/local/cuda/compat/libcuda.so.1 >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA driver on this machine (libcuda.so.1 not found): it needs a GPU machine." >&2
  exit 3
fi
if command -v nvidia-smi >/dev/null 2>&1 && ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: nvidia-smi finds no usable GPU:" >&2; nvidia-smi -L >&2; exit 3
fi

status=0
T0=$(date +%s)
step() { echo; echo "=== $* === (+$(( $(date +%s) - T0 )) s)"; }
run() { timeout -k 10 "$LIMIT" "$@"; local rc=$?; [ $rc -eq 124 ] && echo "gpu-check: stopped after ${LIMIT} s: $*" >&2; if [ $rc -ne 0 ]; then echo "gpu-check: FAILED ($rc): $*" >&2; status=1; fi; return 0; }

# kernelport's bench suite for one backend beside PyTorch's on the same GPU: $OUT/bench-<suite>-*.json
bench_beside_torch() {
  local suite=$1 BQ=""
  [ $QUICK -eq 1 ] && BQ=--quick
  step "bench $suite (kernelport beside PyTorch)"
  run node bench/peers/kp_gpu_bench.mjs --backend "$suite" $BQ > "$OUT/bench-$suite-kernelport.json"
  if [ $TORCH -eq 1 ]; then
    timeout -k 10 "$LIMIT" python3 bench/peers/torch_bench.py --suite "$suite" $BQ > "$OUT/bench-$suite-torch.json" ||
      echo '{"error":"torch bench failed"}' > "$OUT/bench-$suite-torch.json"
  else echo '{"error":"--no-torch"}' > "$OUT/bench-$suite-torch.json"; fi
  run python3 bench/peers/compare_gpu.py "$OUT/bench-$suite-kernelport.json" "$OUT/bench-$suite-torch.json" | tee "$OUT/bench-$suite.txt"
}

# The cuda cases again under each forced kernel path in GPU_CHECK_AB (space-separated VAR=value settings,
# e.g. "KERNELPORT_GPU_GEMM=mma KERNELPORT_GPU_ATTENTION=simt"), for an A/B of the variants on this GPU.
ab_paths() {
  [ -n "${GPU_CHECK_AB:-}" ] || return 0
  step "forced kernel paths (A/B): ${GPU_CHECK_AB}"
  for setting in $GPU_CHECK_AB; do
    env "$setting" timeout -k 10 "$LIMIT" node bench/peers/kp_gpu_bench.mjs --backend cuda --quick ${GPU_CHECK_AB_CASES:+--only "$GPU_CHECK_AB_CASES"} > "$OUT/ab.json" &&
      python3 bench/peers/compare_gpu.py --brief "$setting" "$OUT/ab.json" | tee -a "$OUT/ab.txt"
  done
}

if [ $BUILD -eq 1 ]; then
  step "build"
  start=$(date +%s)
  npm run build || { echo "gpu-check: the build failed" >&2; exit 1; }
  echo "build: $(( $(date +%s) - start )) s"
fi
test -f build/Release/libkernelport_cuda.so || { echo "gpu-check: build/Release/libkernelport_cuda.so is missing (CMake did not find nvcc?)" >&2; exit 1; }

step "probe"
node dist/cli/main.js probe --json > "$OUT/probe.json"
node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const list = Array.isArray(d) ? d : d.devices ?? [];
const c = list.filter((x) => x.backend === "cuda");
for (const x of c) console.log(`cuda:${x.index} ${x.name} ${x.architecture} available=${x.available} ${x.reason ?? ""}`);
if (!c.some((x) => x.available)) { console.error("gpu-check: cuda is unavailable: " + (c[0]?.reason ?? "no entry")); process.exit(3); }
' "$OUT/probe.json" || exit 3

if [ $QUICK -eq 1 ]; then SIZE=--quick; else SIZE=--full; fi
if [ $CUDA -eq 1 ] && [ $SM90_ONLY -eq 0 ]; then
step "tests on cuda"
run "${VITEST[@]}" test/cuda.test.ts test/cuda-parts.test.ts test/matmul.test.ts test/attention.test.ts
step "matmul suite with the tensor-core GEMM forced (KERNELPORT_GPU_GEMM=mma)"
KERNELPORT_GPU_GEMM=mma run "${VITEST[@]}" test/matmul.test.ts -t cuda
step "matmul suite with the portable SIMT GEMM forced (KERNELPORT_GPU_GEMM=simt)"
KERNELPORT_GPU_GEMM=simt run "${VITEST[@]}" test/matmul.test.ts -t cuda
step "attention suite with the portable kernels forced (KERNELPORT_GPU_ATTENTION=simt: no decode kernel)"
KERNELPORT_GPU_ATTENTION=simt run "${VITEST[@]}" test/attention.test.ts -t cuda

step "validate"
run node dist/cli/main.js validate $SIZE --backends cuda,cpu --md "$OUT/validate.md"
KERNELPORT_GPU_GEMM=mma run node dist/cli/main.js validate --quick --backends cuda --md "$OUT/validate-mma.md"
KERNELPORT_GPU_ATTENTION=simt run node dist/cli/main.js validate --quick --backends cuda --md "$OUT/validate-attention-simt.md"
fi
if [ $CUDA -eq 1 ]; then
SM90=0
nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | grep -q '^9\.0' && SM90=1
# The hand-built tensor-core checks and validate on the opt-in tensor-core paths.
tensor_core_checks() {
# Built when missing or stale (build/ may be carried: gpu-bundle.sh builds them for sm_90a beforehand).
if [ $SM90 -eq 1 ]; then run bash scripts/build-gpu-checks.sh --sm90; else run bash scripts/build-gpu-checks.sh; fi
if [ $SM90 -eq 1 ] && [ -x build/wgmma_check ]; then
  # native/test/wgmma_check.cu, built by hand for sm_90a (see its header): wgmma GEMM vs SIMT, exact inputs
  step "wgmma GEMM check, alone and in clusters (sm_90a: layouts, tails, batches, epilogues, determinism, timing)"
  run bash -c "build/wgmma_check | tee '$OUT/wgmma-check.txt'"
  # The clustered GEMMs forced on every descriptor validate has (auto pairs blocks only where tiles are 256 wide)
  KERNELPORT_GPU_GEMM=wgmma-cluster run node dist/cli/main.js validate --full --ops matmul --dtypes f16,bf16 --backends cuda --md "$OUT/validate-gemm-wgmma-cluster.md"
  KERNELPORT_GPU_GEMM=wgmma-cluster2x2 run node dist/cli/main.js validate --full --ops matmul --dtypes f16,bf16 --backends cuda --md "$OUT/validate-gemm-wgmma-cluster2x2.md"
  # Where the GEMM's time goes, block by block (K loop, split-K's count, epilogue): the fused case and
  # plain at M = 512 and 4096 (native/test/wgmma_trace.cu, gemm_wgmma.cu built with KP_WGMMA_TRACE)
  [ -x build/wgmma_trace ] && run bash -c "{ build/wgmma_trace 512; build/wgmma_trace 512 plain; build/wgmma_trace 4096 plain; } | tee '$OUT/wgmma-trace.txt'"
  # Split-K forced 3 ways wherever the batch is 1 (opt-in: auto never splits)
  KERNELPORT_GPU_GEMM=wgmma-cluster KERNELPORT_GPU_GEMM_SPLITK=3 run node dist/cli/main.js validate --full --ops matmul --dtypes f16,bf16 --backends cuda --md "$OUT/validate-gemm-wgmma-splitk3.md"
fi
step "tensor-core attention check (mma.sync, and wgmma on sm_90: bound, NaN/Inf rules, determinism, timing)"
run bash -c "build/attention_mma_check | tee '$OUT/attention-mma-check.txt'"
# The tensor-core attention on every descriptor it can take, however few the query rows (f16/bf16, D == Dv in {64, 80, 96, 128} and 192 / 128; masked ones on the masked mma.sync kernels)
KERNELPORT_GPU_ATTENTION=mma run node dist/cli/main.js validate --full --ops attention --dtypes f16,bf16 --backends cuda --md "$OUT/validate-attention-mma.md"
# The wgmma attention likewise (sm_90: auto takes it at D = 128 only; forced, D = 64 and few rows too)
KERNELPORT_GPU_ATTENTION=wgmma run node dist/cli/main.js validate --full --ops attention --dtypes f16,bf16 --backends cuda --md "$OUT/validate-attention-wgmma.md"
}
# The issue's shapes beside torch, then the opt-in sm_90 paths beside the same torch timings.
benches() {
bench_beside_torch cuda
step "wgmma GEMM in 2-block clusters (KERNELPORT_GPU_GEMM=wgmma-cluster) beside torch"
KERNELPORT_GPU_GEMM=wgmma-cluster run node bench/peers/kp_gpu_bench.mjs --backend cuda \
  --only gemm_bf16_4096,gemm_f16_4096,gemm_bias_gelu_bf16_512x4096x4096 > "$OUT/bench-cuda-wgmma-cluster.json"
run python3 bench/peers/compare_gpu.py "$OUT/bench-cuda-wgmma-cluster.json" "$OUT/bench-cuda-torch.json" | tee "$OUT/bench-cuda-wgmma-cluster.txt"
step "wgmma GEMM in 2 x 2 clusters (KERNELPORT_GPU_GEMM=wgmma-cluster2x2) beside torch"
KERNELPORT_GPU_GEMM=wgmma-cluster2x2 run node bench/peers/kp_gpu_bench.mjs --backend cuda \
  --only gemm_bf16_4096,gemm_f16_4096,gemm_bias_gelu_bf16_512x4096x4096 > "$OUT/bench-cuda-wgmma-cluster2x2.json"
run python3 bench/peers/compare_gpu.py "$OUT/bench-cuda-wgmma-cluster2x2.json" "$OUT/bench-cuda-torch.json" | tee "$OUT/bench-cuda-wgmma-cluster2x2.txt"
step "wgmma GEMM with K split in 2 (KERNELPORT_GPU_GEMM_SPLITK=2: opt-in, slower on the H100 2026-11-27) beside torch"
KERNELPORT_GPU_GEMM_SPLITK=2 run node bench/peers/kp_gpu_bench.mjs --backend cuda \
  --only gemm_bias_gelu_bf16_512x4096x4096 > "$OUT/bench-cuda-splitk2.json"
run python3 bench/peers/compare_gpu.py "$OUT/bench-cuda-splitk2.json" "$OUT/bench-cuda-torch.json" | tee "$OUT/bench-cuda-splitk2.txt"
step "wgmma attention with allowP16 on 64-key tiles (KERNELPORT_GPU_ATTENTION_KEYS=64; auto: 128 for bf16) beside SDPA"
KERNELPORT_GPU_ATTENTION_KEYS=64 run node bench/peers/kp_gpu_bench.mjs --backend cuda \
  --only attention_causal_bf16_b4h32s2048d128_p16 > "$OUT/bench-cuda-attention-keys64.json"
run python3 bench/peers/compare_gpu.py "$OUT/bench-cuda-attention-keys64.json" "$OUT/bench-cuda-torch.json" | tee "$OUT/bench-cuda-attention-keys64.txt"
# The launch order's A/B: every head in one group is the order before head groups (each block of a wave
# on another head's K/V: ~1 GB from HBM per call at this shape, in an LRU model of L2).
step "attention in the order before head groups (KERNELPORT_GPU_ATTENTION_GROUP=all; auto: L2-sized groups) beside SDPA"
KERNELPORT_GPU_ATTENTION_GROUP=all run node bench/peers/kp_gpu_bench.mjs --backend cuda \
  --only attention_causal_bf16_b4h32s2048d128,attention_causal_bf16_b4h32s2048d128_p16 > "$OUT/bench-cuda-attention-group-all.json"
run python3 bench/peers/compare_gpu.py "$OUT/bench-cuda-attention-group-all.json" "$OUT/bench-cuda-torch.json" | tee "$OUT/bench-cuda-attention-group-all.txt"
step "mma.sync attention (KERNELPORT_GPU_ATTENTION=mma: auto takes wgmma at D = 128 on sm_90) beside SDPA"
KERNELPORT_GPU_ATTENTION=mma run node bench/peers/kp_gpu_bench.mjs --backend cuda \
  --only attention_causal_bf16_b4h32s2048d128,attention_causal_bf16_b4h32s2048d128_p16 > "$OUT/bench-cuda-attention-mma.json"
run python3 bench/peers/compare_gpu.py "$OUT/bench-cuda-attention-mma.json" "$OUT/bench-cuda-torch.json" | tee "$OUT/bench-cuda-attention-mma.txt"
step "MLA prefill (D 192, Dv 128) in a 99 KiB part's layout, one V buffer (KERNELPORT_GPU_SMEM_LIMIT=101376: L20, RTX 4090D) beside SDPA"
KERNELPORT_GPU_SMEM_LIMIT=101376 run node bench/peers/kp_gpu_bench.mjs --backend cuda \
  --only attention_mla_causal_bf16_b1h128s2048d192v128_p16 > "$OUT/bench-cuda-mla-one-v.json"
run python3 bench/peers/compare_gpu.py "$OUT/bench-cuda-mla-one-v.json" "$OUT/bench-cuda-torch.json" | tee "$OUT/bench-cuda-mla-one-v.txt"
ab_paths
# Every kernel choice the library has for the issue's shapes, timed through the API as the autotuner
# times them (host clock, one table per shape): which one this part should default to.
step "kernelport tune --backends cuda: each kernel choice for the issue's GEMM and attention shapes"
run bash -c "node dist/cli/main.js tune --backends cuda --op matmul --m 512,4096 --k 4096 --n 4096 --dtype bf16 --cache '$OUT/tune-cache.json' | tee '$OUT/tune-cuda-matmul.txt'"
run bash -c "node dist/cli/main.js tune --backends cuda --op attention --batch 4 --heads 32 --sq 2048 --d 128 --causal --dtype bf16,f16 --allow-p16 --cache '$OUT/tune-cache.json' | tee '$OUT/tune-cuda-attention.txt'"
}
if [ $SM90_ONLY -eq 1 ]; then
  # The timings first: they decide which opt-in path to make the default, and a lent machine may be
  # given back before the end.
  benches
  tensor_core_checks
  step "validate (quick, every op) and the attention tests on cuda"
  run node dist/cli/main.js validate --quick --backends cuda --md "$OUT/validate-quick.md"
  run "${VITEST[@]}" test/attention.test.ts test/attention-p16.test.ts -t cuda
  # masks (every broadcast, finfo.min padding, NaN/Inf), Inf/NaN in V, raw scores of 10^8, D = 192 in a
  # 99 KiB part's layout, and the GEMM epilogue's activations over every bf16 value, on this GPU
  run "${VITEST[@]}" test/cuda.test.ts -t "tensor-core attention on the device|99 KiB part|epilogue activations"
else
  tensor_core_checks
  benches
fi
fi

if [ $WEBGPU -eq 1 ]; then
step "webgpu on Dawn's Vulkan backend (KERNELPORT_WEBGPU_BACKEND=vulkan)"
if ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || ls /usr/lib/x86_64-linux-gnu/libvulkan.so.1 /usr/lib64/libvulkan.so.1 >/dev/null 2>&1; then
  export KERNELPORT_WEBGPU_BACKEND=vulkan
  node dist/cli/main.js probe --json > "$OUT/probe-webgpu.json"
  node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const w = (Array.isArray(d) ? d : d.devices ?? []).filter((x) => x.backend === "webgpu");
for (const x of w) console.log(`webgpu:${x.index} ${x.name} ${x.architecture} available=${x.available} ${x.reason ?? ""} ${JSON.stringify(x.features ?? [])}`);
if (!w.some((x) => x.available)) process.exit(3);
' "$OUT/probe-webgpu.json" || { echo "gpu-check: webgpu has no Vulkan adapter" >&2; status=1; }
  [ "${GPU_CHECK_WEBGPU_TESTS:-1}" = 1 ] && run "${VITEST[@]}" test/webgpu.test.ts test/webgpu-chunks.test.ts
  run node dist/cli/main.js validate $SIZE --backends webgpu --md "$OUT/validate-webgpu.md"
  bench_beside_torch webgpu
  unset KERNELPORT_WEBGPU_BACKEND
else
  echo "gpu-check: no Vulkan loader (libvulkan.so.1) on this machine: webgpu on the GPU skipped" >&2; status=1
fi
fi

if [ $MUSA -eq 1 ]; then
step "musa, emulated: the MUSA build on this NVIDIA GPU"
if [ -f build/Release/libkernelport_musa_emulated.so ]; then
  node dist/cli/main.js probe --json > "$OUT/probe-musa.json"
  node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const list = Array.isArray(d) ? d : d.devices ?? [];
const m = list.filter((x) => x.backend === "musa");
for (const x of m) console.log(`musa:${x.index} ${x.name} ${x.architecture} warp=${x.gpu?.warpSize} emulated=${x.gpu?.emulated} available=${x.available} ${x.reason ?? ""}`);
if (!m.some((x) => x.available)) { console.error("gpu-check: musa (emulated) is unavailable: " + (m[0]?.reason ?? "no entry")); process.exit(3); }
' "$OUT/probe-musa.json" || status=1
  run "${VITEST[@]}" test/musa.test.ts
  run "${VITEST[@]}" test/matmul.test.ts test/attention.test.ts -t musa
  run node dist/cli/main.js validate $SIZE --backends musa,cpu --md "$OUT/validate-musa.md"
  step "musa, emulated, planned for 128-thread warps (KERNELPORT_MUSA_WARP_SIZE=128)"
  KERNELPORT_MUSA_WARP_SIZE=128 run "${VITEST[@]}" test/matmul.test.ts test/attention.test.ts -t musa
  KERNELPORT_MUSA_WARP_SIZE=128 run node dist/cli/main.js validate --quick --backends musa --md "$OUT/validate-musa-warp128.md"
else
  echo "gpu-check: build/Release/libkernelport_musa_emulated.so is missing (KP_MUSA_EMULATE=OFF?)" >&2; status=1
fi
fi

echo
if [ $status -eq 0 ]; then echo "gpu-check: all steps passed (results in $OUT)"; else echo "gpu-check: some steps FAILED (results in $OUT)"; fi
exit $status
