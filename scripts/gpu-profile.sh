#!/usr/bin/env bash
# npm run gpu:profile — Nsight Compute (ncu) on the kernels behind #7's rows that miss their goal, each
# profiled once (full section set) while kp_gpu_bench runs its case. Writes, per kernel, the section
# report (<name>.txt) and the per-SASS-instruction counters (<name>-sass.csv: stall reasons by
# instruction), all packed into $GPU_PROFILE_OUT/profile.tgz (default bench/results/gpu-profile).
# Needs a built tree (npm run build) and ncu on the PATH (or NCU=...). Usage:
#   bash scripts/gpu-profile.sh [name ...]     names: attn-wgmma-p16 attn-mma-p16 attn-wgmma gemm gemm-cluster2 gemm-cluster2x2
#                                              gemm-fused (the 512x4096x4096 bias + GELU case, whose epilogue
#                                              took 20 of 47 us on the H100: native/test/wgmma_trace.cu)
set -uo pipefail
cd "$(dirname "$0")/.."
NCU="${NCU:-$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)}"
[ -x "$NCU" ] || { echo "gpu-profile: ncu not found (set NCU=/path/to/ncu)" >&2; exit 3; }
OUT="${GPU_PROFILE_OUT:-bench/results/gpu-profile}"
WORK=$(mktemp -d)
mkdir -p "$OUT"
LIMIT="${GPU_PROFILE_LIMIT:-120}"
ATT=attention_causal_bf16_b4h32s2048d128

# name | environment | kernel name regex | bench case
targets() {
  cat <<EOF
attn-wgmma-p16|KERNELPORT_GPU_ATTENTION=wgmma|flash_wgmma|${ATT}_p16
attn-mma-p16|KERNELPORT_GPU_ATTENTION=auto|flash_mma|${ATT}_p16
attn-wgmma|KERNELPORT_GPU_ATTENTION=wgmma|flash_wgmma|${ATT}
gemm|KERNELPORT_GPU_GEMM=auto|gemm_wgmma|gemm_bf16_4096
gemm-cluster2|KERNELPORT_GPU_GEMM=wgmma-cluster|gemm_wgmma|gemm_bf16_4096
gemm-cluster2x2|KERNELPORT_GPU_GEMM=wgmma-cluster2x2|gemm_wgmma|gemm_bf16_4096
gemm-fused|KERNELPORT_GPU_GEMM=auto|gemm_wgmma|gemm_bias_gelu_bf16_512x4096x4096
EOF
}

want() { local n=$1; shift; [ $# -eq 0 ] && return 0; for w in "$@"; do [ "$w" = "$n" ] && return 0; done; return 1; }
status=0
while IFS='|' read -r name envset kernel case; do
  want "$name" "$@" || continue
  echo "=== $name: $kernel in $case ($envset) ==="
  # The first launch after the warm-ups is profiled: launch-skip 3 passes kp_gpu_bench's warm-up runs.
  if env "$envset" timeout -k 5 "$LIMIT" "$NCU" --clock-control none --set full -k "regex:$kernel" --launch-skip 3 --launch-count 1 \
      -f -o "$WORK/$name" node bench/peers/kp_gpu_bench.mjs --backend cuda --quick --only "$case" > "$WORK/$name.log" 2>&1; then
    "$NCU" -i "$WORK/$name.ncu-rep" --page details > "$WORK/$name.txt" 2>&1
    "$NCU" -i "$WORK/$name.ncu-rep" --page source --csv --print-source sass > "$WORK/$name-sass.csv" 2>&1
    grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|Registers Per|Achieved Occupancy|Warp Cycles Per Issued|No Eligible" "$WORK/$name.txt" | head -12
  else
    echo "gpu-profile: $name failed; the end of its log:" >&2; tail -20 "$WORK/$name.log" >&2; status=1
  fi
done < <(targets)
tar czf "$OUT/profile.tgz" -C "$WORK" .
echo "gpu-profile: reports in $OUT/profile.tgz"
exit $status
