#!/usr/bin/env bash
# Ad-hoc device experiment: fused GEMM variants timed through node, then ncu sections on three of them.
cd "$(dirname "$0")/.."
bash .gpu/unpack.sh >/dev/null && export PATH="$PWD/.gpu/bin:$PATH"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader
for c in "X=auto" "KERNELPORT_GPU_GEMM_SPLITK=1" "KERNELPORT_GPU_GEMM=wgmma KERNELPORT_GPU_GEMM_SPLITK=1" "KERNELPORT_GPU_GEMM=wgmma KERNELPORT_GPU_GEMM_SPLITK=2" "KERNELPORT_GPU_GEMM=wgmma-cluster KERNELPORT_GPU_GEMM_SPLITK=2" "KERNELPORT_GPU_GEMM=wgmma KERNELPORT_GPU_GEMM_SPLITK=4" "KERNELPORT_GPU_GEMM=mma"; do
  env $c CFG="$c" timeout 60 node .exp/fused_ab.mjs 2>/dev/null
done
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
for c in "X=auto" "KERNELPORT_GPU_GEMM_SPLITK=1" "KERNELPORT_GPU_GEMM=wgmma KERNELPORT_GPU_GEMM_SPLITK=2"; do
  echo "=== ncu $c"
  env $c timeout 90 "$NCU" --clock-control none --section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats \
    -k regex:gemm_wgmma --launch-skip 3 --launch-count 1 node .exp/fused_ab.mjs --once 2>&1 | grep -v "^==PROF==\|Warning\|DisplayEGL\|libEGL\|^$" | head -90
done
