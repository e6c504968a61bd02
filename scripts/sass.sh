#!/usr/bin/env bash
# Offline SASS of a GPU kernel source, on a machine without a GPU: what the compiler made of a kernel
# (branches around each value, serial loads, local memory, calls) before device time is spent on it.
#
#   scripts/sass.sh kernels/gpu/gemm_wgmma.cu                 # per kernel: instructions, branches, ...
#   scripts/sass.sh kernels/gpu/gemm_mma.cu --arch 89         # another target (80, 86, 89, 90a, 120)
#   scripts/sass.sh kernels/gpu/gemm_wgmma.cu --dump 'ILi128ELb1ELb0ELi1ELi1E' > k.sass   # one kernel's code
#   scripts/sass.sh --fetch                                   # only get nvdisasm (.ci/run; test/cuda.test.ts)
#
# nvcc here has no disassembler (the machine's CUDA 13 lacks cuobjdump and nvdisasm). Debian's non-free
# nvidia-cuda-toolkit (CUDA 11.8) has nvdisasm; the first run downloads that package (84 MB, apt's
# non-free component, added for this download only) and keeps nvdisasm under
# ${XDG_CACHE_HOME:-~/.cache}/kernelport/. 11.8's nvdisasm decodes sm_80-sm_90 instructions (wgmma as
# HGMMA included) but not the ELF header CUDA 12.8+ writes (ABI version 8: "does not contain Cuda
# architecture information"), so the cubin's header is rewritten to the older form (OS/ABI 0x33, ABI
# 7, EF_CUDA_SM<n> flags) in a copy; the code is untouched. sm_120 is newer than 11.8: --arch 120
# compiles but will not disassemble. KP_NVDISASM=path uses another nvdisasm.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="" arch="90a" dump="" fetch_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --dump) dump="$2"; shift 2 ;;
    --fetch) fetch_only=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) src="$1"; shift ;;
  esac
done
[ -n "$src" ] || [ "$fetch_only" = 1 ] || { echo "usage: scripts/sass.sh <kernel.cu> [--arch 80|86|89|90a] [--dump <kernel name regex>] | --fetch" >&2; exit 2; }

cache="${XDG_CACHE_HOME:-$HOME/.cache}/kernelport/cuda-11.8"
nvdisasm="${KP_NVDISASM:-$cache/usr/bin/nvdisasm}"
if [ ! -x "$nvdisasm" ]; then
  echo "sass.sh: fetching nvdisasm (Debian non-free nvidia-cuda-toolkit 11.8, 84 MB) into $cache" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  cat > "$tmp/nonfree.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
  apt_opts=(-o "Dir::Etc::sourcelist=$tmp/nonfree.sources" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$tmp/lists"
            -o "Dir::Cache::Archives=$tmp/archives" -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" -qq update >&2
  (cd "$tmp" && apt-get "${apt_opts[@]}" -qq download nvidia-cuda-toolkit >&2)
  mkdir -p "$cache"
  dpkg-deb -x "$tmp"/nvidia-cuda-toolkit_*.deb "$tmp/x"
  mkdir -p "$cache/usr/bin" && cp "$tmp/x/usr/bin/nvdisasm" "$cache/usr/bin/"
  rm -rf "$tmp"
  trap - EXIT
fi
if [ "$fetch_only" = 1 ]; then echo "$nvdisasm"; exit 0; fi
nvcc="${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
[ -x "$nvcc" ] || { echo "sass.sh: nvcc not found" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
defs=(-DKP_GPU_VENDOR_CUDA '-DKP_GPU_BACKEND_NAME="cuda"')
[ "$arch" = "90a" ] && defs+=(-DKP_CUDA_SM90A=1)
"$nvcc" -cubin -O3 -std=c++17 -gencode="arch=compute_$arch,code=sm_$arch" "${defs[@]}" \
  -I"$root/native/include" -I"$root/native/gpu" -I"$root/kernels" "$src" -o "$work/k.cubin"

sm=$(( 10#${arch%a} ))
python3 - "$work/k.cubin" "$sm" <<'EOF'
import struct, sys
path, sm = sys.argv[1], int(sys.argv[2])
b = bytearray(open(path, 'rb').read())
b[7], b[8] = 0x33, 7                                        # OS/ABI, ABI version: the pre-12.8 values
struct.pack_into('<I', b, 0x30, sm | 0x500 | (sm << 16))    # EF_CUDA_SM<sm>, texmode unified, 64-bit, virtual SM
open(path, 'wb').write(b)
EOF
"$nvdisasm" -c "$work/k.cubin" 2>/dev/null > "$work/k.sass"

if [ -n "$dump" ]; then
  awk -v pat="$dump" '/^\/\/-+ \.text\./ { on = ($0 ~ pat) } on' "$work/k.sass"
  exit 0
fi
# Per kernel: instructions, branches (BRA/BRX), calls, MUFU, global loads/stores, local memory.
awk '
  function flush() { if (name != "") printf "%6d instr %4d bra %3d call %4d mufu %4d ldg %4d stg %3d local  %s\n", n, bra, call, mufu, ldg, stg, loc, name }
  /^\/\/-+ \.text\./ { flush(); name = $2; sub(/^\.text\./, "", name); n = bra = call = mufu = ldg = stg = loc = 0; next }
  /\/\*[0-9a-f]+\*\// {
    n++
    if ($0 ~ / BR[AX][ .]/) bra++
    if ($0 ~ / CALL\./) call++
    if ($0 ~ / MUFU\./) mufu++
    if ($0 ~ / LDG\./) ldg++
    if ($0 ~ / STG\./) stg++
    if ($0 ~ / (LDL|STL)[ .]/) loc++
  }
  END { flush() }
' "$work/k.sass" | c++filt | sed -E 's/kp::gpu::(\(anonymous namespace\)::)?//g; s/\(CUtensorMap_st, CUtensorMap_st, [A-Za-z]+\)$//; s/\([^()]*\)$//' 
