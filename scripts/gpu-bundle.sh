#!/usr/bin/env bash
# For a lent GPU machine with no Node.js and no registry (the device tool copies the working tree plus
# the ignored paths it is told to carry, 64 MiB in all): packs into .gpu/ what `npm run gpu:check`
# needs besides the tree, built and installed here.
#   .gpu/node.xz     this machine's node binary
#   .gpu/nm.tar.xz   node_modules without what the checks never load (the TypeScript compiler, Playwright,
#                    other platforms' Dawn builds, the onnxruntime-node CPU peer of `npm run bench:peer`;
#                    vitest needs esbuild)
#   .gpu/rel.tar.xz  dist/ and build/Release's libraries and tests (nvcc builds the cuda library here), and
#                    the hand-built sm_90a checks (scripts/build-gpu-checks.sh --sm90, a few minutes here)
#   .gpu/unpack.sh   run first on the device: puts node in .gpu/bin and the trees in place
# Here: `npm run build && bash scripts/gpu-bundle.sh`; then carry [".gpu"] and run on the device e.g.
#   bash .gpu/unpack.sh && G=/tmp/gc && mkdir -p $G && PATH="$PWD/.gpu/bin:$PATH" GPU_CHECK_OUT=$G \
#     bash scripts/gpu-check.sh --no-build --sm90 > $G/log.txt 2>&1; tar -cJf $OUT/gpu-check.tar.xz -C $G .
# (on a GPU other than sm_90, gpu-check rebuilds the attention check there for that GPU). Every call
# unpacks again: a carried path replaces what is there, .gpu/bin included. The results go back as one
# archive: the device tool returns a limited number of files from $OUT, and gpu-check --sm90 writes ~30.
set -euo pipefail
cd "$(dirname "$0")/.."
for need in build/Release/kernelport.node build/Release/libkernelport_cuda.so dist/index.js node_modules/vitest; do
  [ -e "$need" ] || { echo "gpu-bundle: $need is missing: run npm install (nvcc must be found) first" >&2; exit 2; }
done
mkdir -p .gpu
xz -T0 -6 -c "$(command -v node)" > .gpu/node.xz
tar -cJf .gpu/nm.tar.xz --exclude='node_modules/typescript' --exclude='node_modules/playwright-core' \
  --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
  --exclude='node_modules/webgpu/dist/linux-arm64' --exclude='node_modules/onnxruntime-*' node_modules
bash scripts/build-gpu-checks.sh --sm90 || echo "gpu-bundle: a hand-built check did not build: gpu-check builds it there" >&2
CHECKS=$(ls build/wgmma_check build/wgmma_trace build/attention_mma_check build/attention_mma_check.target 2>/dev/null || true)
# The libraries and test programs only (no object files); the emulator is a CPU test tool, not needed there.
tar -cJf .gpu/rel.tar.xz dist build/built-at $CHECKS $(cd build && ls -d Release/*.so* Release/*.node Release/kp_* 2>/dev/null |
  grep -v gpu_emu | sed 's|^|build/|')
cat > .gpu/unpack.sh <<'EOF'
#!/usr/bin/env bash
# On the GPU machine, from the repository root: node into .gpu/bin, node_modules, dist and build/ in place.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu/bin
xz -dc .gpu/node.xz > .gpu/bin/node && chmod +x .gpu/bin/node
tar -xJf .gpu/nm.tar.xz
tar -xJf .gpu/rel.tar.xz
# after the tree's sources, which the copy may have dated later (else the addon and checks count as stale)
touch build/built-at $(ls build/wgmma_check build/wgmma_trace build/attention_mma_check 2>/dev/null || true)
echo "unpacked: $(.gpu/bin/node --version), $(ls build/Release | wc -l) files in build/Release"
EOF
chmod +x .gpu/unpack.sh
du -ch .gpu/node.xz .gpu/nm.tar.xz .gpu/rel.tar.xz | tail -1 | sed 's/total/in .gpu (the carry limit is 64 MiB)/'
total=$(du -cb .gpu/node.xz .gpu/nm.tar.xz .gpu/rel.tar.xz | tail -1 | cut -f1)
if [ "$total" -gt $((64 << 20)) ]; then
  echo "gpu-bundle: .gpu is over the device tool's 64 MiB carry limit; the largest packages in node_modules:" >&2
  du -sh node_modules/* | sort -h | tail -5 >&2
  exit 3
fi
