"""PyTorch side of `npm run gpu:check`: the same shapes as bench/peers/kp_gpu_bench.mjs on the same GPU.

torch.matmul for GEMM, the unfused matmul + bias + exact GELU sequence, F.scaled_dot_product_attention
for causal prefill and for decoding. Times with CUDA events, median of repeats. Prints JSON
{ "device": name, "torch": version, "cases": { name: { "ms": ... } } }.
The webgpu suite (#6) runs fp32 with TF32 off, fp16, and SDPA on B1 H32 S2048 D128.
Usage: python3 bench/peers/torch_bench.py [--suite cuda|webgpu] [--quick]
"""
import json
import statistics
import sys
import time


def main() -> int:
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:  # the check prints the kernelport numbers alone
        print(json.dumps({"error": f"PyTorch is not installed: {e}"}))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch.cuda.is_available() is False"}))
        return 0
    quick = "--quick" in sys.argv
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")

    def bench(fn, iters):
        # Warm-up: at least 200 ms of back-to-back runs, as kp_gpu_bench.mjs does (an idle GPU's first
        # milliseconds run slowly).
        warm0 = time.perf_counter()
        while True:
            for _ in range(max(1, iters // 4)):
                fn()
            torch.cuda.synchronize()
            if time.perf_counter() - warm0 >= 0.2:
                break
        samples = []
        for _ in range(3 if quick else 7):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iters):
                fn()
            end.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(end) / iters)
        return statistics.median(samples)

    cases = {}
    if "webgpu" in sys.argv:
        with torch.no_grad():
            for name, dt, iters in (("f32", torch.float32, 2), ("f16", torch.float16, 5)):
                a = torch.randn(4096, 4096, device=dev, dtype=dt)
                b = torch.randn(4096, 4096, device=dev, dtype=dt)
                cases[f"gemm_{name}_4096"] = {"ms": bench(lambda: torch.matmul(a, b), iters if quick else 4 * iters)}
            for name, dt in (("f16", torch.float16), ("f32", torch.float32)):
                q, k, v = (torch.randn(1, 32, 2048, 128, device=dev, dtype=dt) for _ in range(3))
                cases[f"attention_causal_{name}_b1h32s2048d128"] = {
                    "ms": bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), 2 if quick else 5)
                }
        print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "suite": "webgpu", "cases": cases}))
        return 0
    with torch.no_grad():
        for name, dt in (("bf16", torch.bfloat16), ("f16", torch.float16)):
            a = torch.randn(4096, 4096, device=dev, dtype=dt)
            b = torch.randn(4096, 4096, device=dev, dtype=dt)
            cases[f"gemm_{name}_4096"] = {"ms": bench(lambda: torch.matmul(a, b), 5 if quick else 20)}
        a = torch.randn(4096, 4096, device=dev, dtype=torch.float32)
        b = torch.randn(4096, 4096, device=dev, dtype=torch.float32)
        cases["gemm_f32_4096"] = {"ms": bench(lambda: torch.matmul(a, b), 2 if quick else 5)}
        torch.backends.cuda.matmul.allow_tf32 = True
        cases["gemm_tf32_4096"] = {"ms": bench(lambda: torch.matmul(a, b), 5 if quick else 20)}
        torch.backends.cuda.matmul.allow_tf32 = False
        a = torch.randn(512, 4096, device=dev, dtype=torch.bfloat16)
        w = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16)
        bias = torch.randn(4096, device=dev, dtype=torch.bfloat16)
        cases["gemm_bias_gelu_bf16_512x4096x4096"] = {
            "ms": bench(lambda: F.gelu(torch.matmul(a, w) + bias), 5 if quick else 50)
        }
        cases["gemm_bf16_512x4096x4096"] = {"ms": bench(lambda: torch.matmul(a, w), 5 if quick else 50)}
        x = torch.randn(1, 4096, device=dev, dtype=torch.bfloat16)
        cases["gemv_bf16_1x4096x4096"] = {"ms": bench(lambda: F.linear(x, w), 5 if quick else 50)}
        q, k, v = (torch.randn(4, 32, 2048, 128, device=dev, dtype=torch.bfloat16) for _ in range(3))
        cases["attention_causal_bf16_b4h32s2048d128"] = {
            "ms": bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), 2 if quick else 5)
        }
        # SDPA rounds P to bf16 itself: the same torch call is the peer of kernelport's allowP16 case.
        cases["attention_causal_bf16_b4h32s2048d128_p16"] = cases["attention_causal_bf16_b4h32s2048d128"]
        qm, km = (torch.randn(1, 128, 2048, 192, device=dev, dtype=torch.bfloat16) for _ in range(2))
        vm = torch.randn(1, 128, 2048, 128, device=dev, dtype=torch.bfloat16)
        try:  # Dv != D: not every SDPA backend of every torch version takes it; the row then has no peer
            cases["attention_mla_causal_bf16_b1h128s2048d192v128_p16"] = {
                "ms": bench(lambda: F.scaled_dot_product_attention(qm, km, vm, is_causal=True), 2 if quick else 5)
            }
        except RuntimeError as e:
            cases["attention_mla_causal_bf16_b1h128s2048d192v128_p16"] = {"error": str(e)[:200]}
        del qm, km, vm
        # The same padding as kp_gpu_bench.mjs (batch b sees keys below 2048 - 512 b), as SDPA's boolean mask.
        keep = torch.arange(2048, device=dev)[None, :] < (2048 - 512 * torch.arange(4, device=dev))[:, None]
        keep = keep[:, None, None, :]
        cases["attention_padmask_bf16_b4h32s2048d128"] = {
            "ms": bench(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=keep), 2 if quick else 5)
        }
        cases["attention_padmask_bf16_b4h32s2048d128_p16"] = cases["attention_padmask_bf16_b4h32s2048d128"]
        q = torch.randn(4, 32, 1, 128, device=dev, dtype=torch.bfloat16)
        k, v = (torch.randn(4, 32, 4096, 128, device=dev, dtype=torch.bfloat16) for _ in range(2))
        cases["decode_bf16_b4h32skv4096d128"] = {
            "ms": bench(lambda: F.scaled_dot_product_attention(q, k, v), 5 if quick else 50)
        }
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "suite": "cuda", "cases": cases}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
