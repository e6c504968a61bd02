"""Prints kernelport beside PyTorch from the two JSON files gpu-check writes, with the issues' goals
(#7's for the cuda suite, #6's for webgpu). Usage: python3 bench/peers/compare_gpu.py kp.json torch.json | --brief LABEL kp.json"""
import json
import sys

GOALS = {
    "cuda": {  # name: (goal on sm_90, what the ratio means)
        "gemm_bf16_4096": (0.70, "kernelport speed / torch.matmul"),
        "gemm_f16_4096": (0.70, "kernelport speed / torch.matmul"),
        "gemm_f32_4096": (None, "full f32 (SIMT) / torch.matmul with TF32 off"),
        "gemm_tf32_4096": (None, "allowTf32 / torch.matmul with allow_tf32"),
        "gemm_bias_gelu_bf16_512x4096x4096": (1.00, "fused vs torch's unfused matmul+bias+gelu"),
        "gemm_bf16_512x4096x4096": (None, "the same GEMM without bias and GELU / torch.matmul (the epilogue's share)"),
        "gemv_bf16_1x4096x4096": (None, "decoding's GEMV (x @ W^T, 32 MiB of bf16 weights) / F.linear"),
        "attention_causal_bf16_b4h32s2048d128": (0.60, "kernelport speed / SDPA (P kept to f32 accuracy)"),
        "attention_causal_bf16_b4h32s2048d128_p16": (0.60, "allowP16 (P rounded to bf16, as SDPA does) / SDPA"),
        "attention_mla_causal_bf16_b1h128s2048d192v128_p16": (None, "DeepSeek MLA prefill (D 192, Dv 128), allowP16 / SDPA (whose backend for Dv != D may be a slow one)"),
        "attention_padmask_bf16_b4h32s2048d128": (None, "padding mask [B,1,1,S], not causal / SDPA with that mask"),
        "attention_padmask_bf16_b4h32s2048d128_p16": (None, "the same with allowP16 / SDPA with that mask"),
        "decode_bf16_b4h32skv4096d128": (0.70, "fraction of the table's HBM bandwidth"),
    },
    "webgpu": {
        "gemm_f32_4096": (0.60, "webgpu speed / torch.matmul fp32, TF32 off"),
        "gemm_f16_4096": (None, "webgpu speed / torch.matmul fp16"),
        "attention_causal_f16_b1h32s2048d128": (None, "webgpu speed / SDPA fp16"),
        "attention_causal_f32_b1h32s2048d128": (None, "webgpu speed / SDPA fp32"),
    },
}


def brief(label: str, path: str) -> int:
    """One line per case: an A/B run under a forced kernel path (LABEL, e.g. KERNELPORT_GPU_GEMM=mma)."""
    for name, c in json.load(open(path))["cases"].items():
        print(f"{label:36} {name:40} {c['ms']:9.3f} ms {c['flops'] / c['ms'] / 1e9:8.1f} TFLOP/s {c.get('variant', '')}")
    return 0


def main() -> int:
    if sys.argv[1] == "--brief":
        return brief(sys.argv[2], sys.argv[3])
    kp = json.load(open(sys.argv[1]))
    th = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {}
    suite = kp.get("suite", "cuda")
    goals = GOALS[suite]
    bw = kp["device"].get("peak", {}).get("bandwidth")
    print(f"{suite}: {kp['device']['name']} ({kp['device'].get('architecture')}); torch: {th.get('torch', th.get('error', 'n/a'))}")
    print(f"{'case':40} {'kp ms':>9} {'TFLOP/s':>8} {'torch ms':>9} {'ratio':>6} {'goal':>5}  meaning")
    failed = 0
    for name, c in kp["cases"].items():
        t = th.get("cases", {}).get(name, {}).get("ms")
        goal, meaning = goals.get(name, (None, ""))
        if name.startswith("decode"):
            ratio = c["bytes"] / (c["ms"] * 1e-3) / bw if bw else None
        else:
            ratio = t / c["ms"] if t else None
        mark = "" if ratio is None or goal is None else (" ok" if ratio >= goal else " BELOW")
        failed += mark == " BELOW"
        nan = float("nan")
        print(f"{name:40} {c['ms']:9.3f} {c['flops'] / (c['ms'] * 1e-3) / 1e12:8.2f} {t if t else nan:9.3f} "
              f"{ratio if ratio is not None else nan:6.2f} {goal if goal is not None else nan:5.2f}{mark}  {meaning}"
              + (f" [{c['variant']}]" if c.get("variant") else ""))
    print(f"{failed} case(s) below goal" if failed else "all cases with a goal at or above it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
