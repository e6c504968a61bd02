#!/usr/bin/env bash
# Builds the native core and its native tests with AddressSanitizer + UndefinedBehaviorSanitizer and
# runs them: the C ABI test and the randomised stress test (kernels, bounds checks, concurrency).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-asan
cmake -S . -B "$build" -DKP_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKP_CUDA=OFF -DKP_MUSA=OFF >/dev/null
cmake --build "$build" --target kp_abi_test kp_stress_test -j"$(nproc)" >/dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
dir=$(dirname "$(find "$build" -name kp_abi_test -type f | head -1)")
echo "== kp_abi_test (asan+ubsan)"
"$dir/kp_abi_test"
echo "== kp_stress_test (asan+ubsan)"
"$dir/kp_stress_test" "${1:-40}"
