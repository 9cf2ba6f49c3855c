# PyTorch counterpart of bench_pool.cpp (same shapes and ops), for the comparison in the
# pooling notes. Debian: apt install python3-torch.
#   /usr/bin/python3 bench_pool_torch.py [threads] [reps]
import sys, time, torch
import torch.nn.functional as F
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
torch.set_num_threads(threads)
torch.manual_seed(0)
def best(f):
    f()
    b = 1e30
    for _ in range(reps):
        t0 = time.perf_counter(); f(); b = min(b, (time.perf_counter() - t0) * 1e3)
    return b
def fwd_bwd(fn, x):
    """(training forward ms (autograd on: max pooling saves indices), backward-only ms)."""
    xr = x.clone().requires_grad_()
    f = best(lambda: fn(xr))
    y = fn(xr)
    g = torch.rand_like(y)
    b = best(lambda: torch.autograd.grad(y, xr, g, retain_graph=True))
    return f, b
print(f"torch {torch.__version__}, {threads} threads, best of {reps}, float32")
total = 0
for s in [(128, 20, 24, 24), (128, 50, 8, 8)]:
    x = torch.rand(s) - 0.5
    for name, fn in [("max_pool", lambda t: F.max_pool2d(t, 2)), ("avg_pool", lambda t: F.avg_pool2d(t, 2))]:
        f, b = fwd_bwd(fn, x)
        print(f"{name:9s} 2x2/2 {str(list(s)):18s} fwd {f:7.3f} ms | bwd {b:7.3f} ms")
        if name == "max_pool":
            total += f + b
print(f"LeNet max-pool training step (both layers, fwd + bwd): {total:.3f} ms per batch of 128")
x = torch.rand(128, 20, 24, 24) - 0.5
bn = torch.nn.BatchNorm2d(20)
f, b = fwd_bwd(bn, x)
with torch.no_grad():
    for name, fn in [("max_pool", lambda t: F.max_pool2d(t, 2)), ("avg_pool", lambda t: F.avg_pool2d(t, 2))]:
        print(f"{name} [128, 20, 24, 24] inference (no_grad) fwd {best(lambda: fn(x)):7.3f} ms")
bn.eval()
with torch.no_grad():
    fi = best(lambda: bn(x))
print(f"batch_norm [128, 20, 24, 24] train fwd {f:7.3f} ms | inference fwd {fi:7.3f} ms | train bwd {b:7.3f} ms")
