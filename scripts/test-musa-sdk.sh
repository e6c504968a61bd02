#!/usr/bin/env bash
# The MUSA SDK build path of CMakeLists.txt, exercised without the SDK (test/musa.test.ts):
#   1. configure with MUSA_PATH pointing nowhere: the "MUSA SDK not found (looked in ...)" message;
#   2. configure with MUSA_PATH at a stand-in SDK and build libkernelport_musa.so through the very
#      custom commands a real SDK would run. The stand-in: include/ holds the test-only mapping headers
#      (native/test/musa_on_cuda/) beside CUDA's; bin/mcc logs its arguments and hands the compile to
#      nvcc (-x musa -> -x cu, --cuda-gpu-arch=mp_XX -> one sm_80 target); lib/libmusart.so is CUDA's
#      runtime and lib/libmusa.so the stand-in MUSA driver.
# Output: the configure lines, the arguments mcc received, and the library's path. Needs nvcc.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
cuda=$(dirname "$(dirname "$nvcc")")
out=${KP_MUSA_SDK_TEST_DIR:-$root/build-musa-sdk}
fake_driver=${1:?usage: test-musa-sdk.sh <path of libkp_fake_musa_driver.so>}
mkdir -p "$out"

echo "== configure without an SDK"
cmake -S . -B "$out/none" -DKP_CUDA=OFF -DKP_MUSA_EMULATE=OFF -DMUSA_PATH="$out/no-such-sdk" | grep 'kernelport:' || true

echo "== stand-in SDK"
sdk="$out/sdk"
rm -rf "$sdk" "$out/sdk-build"  # every run compiles through mcc afresh (its log is the evidence)
mkdir -p "$sdk/include" "$sdk/bin" "$sdk/lib"
for f in "$cuda"/include/*; do ln -s "$f" "$sdk/include/"; done
for f in musa_runtime.h musa_fp16.h musa_bf16.h; do ln -sf "$root/native/test/musa_on_cuda/$f" "$sdk/include/$f"; done
ln -s "$cuda/lib64/libcudart.so" "$sdk/lib/libmusart.so"
for f in "$cuda"/lib64/libcudart.so.*; do ln -s "$f" "$sdk/lib/"; done  # the stand-in runtime's SONAME, found via the runpath
ln -s "$fake_driver" "$sdk/lib/libmusa.so"
cat > "$sdk/bin/mcc" <<MCC
#!/usr/bin/env bash
echo "mcc \$*" >> "$sdk/mcc.log"
args=(); arch=0
while [ \$# -gt 0 ]; do
  case "\$1" in
    -x) shift; args+=(-x cu) ;;
    --cuda-gpu-arch=*) arch=1 ;;
    -fPIC|-fvisibility=*) args+=("-Xcompiler=\$1") ;;
    *) args+=("\$1") ;;
  esac
  shift
done
[ \$arch -eq 1 ] || { echo "mcc: no --cuda-gpu-arch" >&2; exit 2; }
exec "$nvcc" -arch=sm_80 "\${args[@]}"
MCC
chmod +x "$sdk/bin/mcc"
cmake -S . -B "$out/sdk-build" -DKP_CUDA=OFF -DKP_MUSA_EMULATE=OFF -DMUSA_PATH="$sdk" -DCMAKE_BUILD_TYPE=Release | grep 'kernelport:' || true
cmake --build "$out/sdk-build" --target kernelport_musa -j"$(nproc)" >/dev/null
echo "== mcc was called as"
cat "$sdk/mcc.log"
echo "== library"
find "$out/sdk-build" -name libkernelport_musa.so -type f
