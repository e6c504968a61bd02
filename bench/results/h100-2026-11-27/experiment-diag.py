# The same host-timed loops in torch: what this machine's launch path costs a framework.
import time, torch, torch.nn.functional as F
d = torch.device("cuda")
a = torch.randn(512, 4096, device=d, dtype=torch.bfloat16); w = torch.randn(4096, 4096, device=d, dtype=torch.bfloat16)
b = torch.randn(4096, device=d, dtype=torch.bfloat16); x = torch.randn(64, 64, device=d, dtype=torch.bfloat16)
def measure(label, fn, n):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.2: fn(); torch.cuda.synchronize()
    rows = []
    for _ in range(5):
        t0 = time.perf_counter(); outs = [fn() for _ in range(n)]; t1 = time.perf_counter(); torch.cuda.synchronize(); t2 = time.perf_counter()
        rows.append(((t1 - t0) / n * 1e6, (t2 - t0) / n * 1e6))
    rows.sort(key=lambda r: r[1]); e, t = rows[len(rows) // 2]
    print(f"torch {label:28} n={n:<4} enqueue {e:6.1f} us/op   total {t:6.1f} us/op")
with torch.no_grad():
    measure("matmul 512x4096x4096", lambda: torch.matmul(a, w), 50)
    measure("matmul+bias+gelu", lambda: F.gelu(torch.matmul(a, w) + b), 50)
    measure("tiny 64^3", lambda: torch.matmul(x, x), 2000)
