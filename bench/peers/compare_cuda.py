"""Prints kernelport (cuda) beside PyTorch from the two JSON files gpu-check writes, with the issue's goals.
Usage: python3 bench/peers/compare_cuda.py kp.json torch.json"""
import json
import sys

GOALS = {  # name: (goal on sm_90, what the ratio means)
    "gemm_bf16_4096": (0.70, "kernelport speed / torch.matmul"),
    "gemm_f16_4096": (0.70, "kernelport speed / torch.matmul"),
    "gemm_f32_4096": (None, "full f32 (SIMT) / torch.matmul with TF32 off"),
    "gemm_tf32_4096": (None, "allowTf32 / torch.matmul with allow_tf32"),
    "gemm_bias_gelu_bf16_512x4096x4096": (1.00, "fused vs torch's unfused matmul+bias+gelu"),
    "attention_causal_bf16_b4h32s2048d128": (0.60, "kernelport speed / SDPA"),
    "decode_bf16_b4h32skv4096d128": (0.70, "fraction of the table's HBM bandwidth"),
}


def main() -> int:
    kp = json.load(open(sys.argv[1]))
    th = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {}
    bw = kp["device"]["peak"]["bandwidth"]
    print(f"device: {kp['device']['name']} ({kp['device']['architecture']}); torch: {th.get('torch', th.get('error', 'n/a'))}")
    print(f"{'case':40} {'kernelport ms':>14} {'torch ms':>10} {'ratio':>7} {'goal':>6}  meaning")
    failed = 0
    for name, c in kp["cases"].items():
        t = th.get("cases", {}).get(name, {}).get("ms")
        goal, meaning = GOALS.get(name, (None, ""))
        if name.startswith("decode"):
            ratio = c["bytes"] / (c["ms"] * 1e-3) / bw if bw else None
        else:
            ratio = t / c["ms"] if t else None
        mark = "" if ratio is None or goal is None else (" ok" if ratio >= goal else " BELOW")
        failed += mark == " BELOW"
        print(f"{name:40} {c['ms']:14.3f} {t if t else float('nan'):10.3f} "
              f"{ratio if ratio is not None else float('nan'):7.2f} {goal if goal is not None else float('nan'):6.2f}{mark}  {meaning}")
    print(f"{failed} case(s) below goal" if failed else "all cases at or above goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
