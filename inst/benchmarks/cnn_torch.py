#!/usr/bin/python3
"""Modern CNNs on the CPU with PyTorch: the peer of cnn.R (issue 14).

One network and one thread count per process (so that the peak RSS is that
run's); run-cnn.sh runs both sides and prints the table. Use Debian's
interpreter (python3-torch, python3-torchvision):

    /usr/bin/python3 inst/benchmarks/cnn_torch.py --net vgg --threads 2
    /usr/bin/python3 inst/benchmarks/cnn_torch.py --net mobilenet --threads 1
    /usr/bin/python3 inst/benchmarks/cnn_torch.py --net gemm --threads 2

Networks, options (but --on-nonfinite) and printed "key value" lines are those
of cnn.R (see its header): vgg and resnet18 (CIFAR-sized 3x32x32, trained with SGD lr 0.01
momentum 0.9 on batches of 64 random images, softmax cross-entropy; then
inference over the pool), mobilenet (torchvision.models.mobilenet_v2(
weights=None).eval() at 3x224x224, inference at batch 1 and 16) and gemm
(torch.mm of two float32 1024 x 1024 matrices). Convolutions have no bias
(BN follows). Training = zero_grad, forward, loss, backward, optimizer step on
a batch gathered from a uint8 pool of random images scaled by 1/255 (cnn.R
rescales in its first layer); inference under torch.inference_mode() with
model.eval(). flops_per_img counts 2 x the multiply-adds of the Conv2d and
Linear modules, found with forward hooks. peak_rss_mb is ru_maxrss (the same
counter as cnn.R's VmHWM), train_peak_rss_mb the same read after training.
--profile K prints torch.autograd.profiler's slowest ops over K training
steps after the timed ones (or K inference calls for mobilenet).
"""

import argparse
import os
import resource
import time

DEFAULTS = {"resnet18": dict(steps=4, warmup=1, eval_images=128),
            "vgg": dict(steps=30, warmup=5, eval_images=0)}


def loadavg():
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "NA"


def note(msg):
    print("# " + msg, flush=True)


def kv(key, fmt, value):
    print(f"{key} {fmt % value}", flush=True)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def build(net, nn):
    def conv_bn(cin, cout, k, stride=1, groups=1):
        return [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)]

    if net == "vgg":
        layers = (conv_bn(3, 32, 3) + [nn.ReLU()] + conv_bn(32, 32, 3) + [nn.ReLU(), nn.MaxPool2d(2)]
                  + conv_bn(32, 64, 3) + [nn.ReLU()] + conv_bn(64, 64, 3) + [nn.ReLU(), nn.MaxPool2d(2)]
                  + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)])
        return nn.Sequential(*layers)

    if net == "resnet18":
        class Block(nn.Module):
            def __init__(self, cin, planes, stride):
                super().__init__()
                self.body = nn.Sequential(*(conv_bn(cin, planes, 3, stride) + [nn.ReLU()]
                                            + conv_bn(planes, planes, 3)))
                self.short = (nn.Sequential(*conv_bn(cin, planes, 1, stride))
                              if stride != 1 or cin != planes else nn.Identity())
                self.relu = nn.ReLU()

            def forward(self, x):
                return self.relu(self.body(x) + self.short(x))

        layers = conv_bn(3, 64, 3) + [nn.ReLU()]
        cin = 64
        for s in range(4):
            planes = 64 * 2 ** s
            layers += [Block(cin, planes, 1 if s == 0 else 2), Block(planes, planes, 1)]
            cin = planes
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
        return nn.Sequential(*layers)

    import torchvision
    return torchvision.models.mobilenet_v2(weights=None)


def count_flops(model, shape, torch):
    """Forward FLOPs per image: 2 x multiply-adds of the Conv2d and Linear modules."""
    macs = [0]

    def hook(mod, inp, out):
        if isinstance(mod, torch.nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            macs[0] += out[0].numel() * (mod.in_channels // mod.groups) * k
        else:
            macs[0] += mod.in_features * mod.out_features

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        model(torch.zeros((1,) + shape))
    model.train(was_training)
    for h in hs:
        h.remove()
    return 2 * macs[0]


def print_profile(prof, top):
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)
    for line in table.splitlines():
        note(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", choices=["vgg", "resnet18", "mobilenet", "gemm"], default="vgg")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=0, help="timed training steps (0: per-net default)")
    ap.add_argument("--warmup-steps", type=int, default=0, help="0: per-net default")
    ap.add_argument("--pool", type=int, default=512, help="distinct random training images")
    ap.add_argument("--eval-batch", type=int, default=128)
    ap.add_argument("--eval-images", type=int, default=0, help="0: per-net default")
    ap.add_argument("--eval-reps", type=int, default=3)
    ap.add_argument("--mobilenet-batches", default="1 16")
    ap.add_argument("--mobilenet-reps", type=int, default=5)
    ap.add_argument("--gemm-n", type=int, default=1024)
    ap.add_argument("--gemm-reps", type=int, default=10)
    ap.add_argument("--profile", type=int, default=0)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    if a.net in DEFAULTS:
        d = DEFAULTS[a.net]
        a.steps = a.steps or d["steps"]
        a.warmup_steps = a.warmup_steps or d["warmup"]
        a.eval_images = a.eval_images or d["eval_images"] or a.pool

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(a.seed)
    note(f"torch {torch.__version__}, net {a.net}, threads {torch.get_num_threads()}, "
         f"loadavg at start {loadavg()}")
    note("random data and weights: speed only")
    print("framework torch")
    print(f"net {a.net}")
    print(f"threads {torch.get_num_threads()}")

    # ---- GEMM ceiling ------------------------------------------------------
    if a.net == "gemm":
        n = a.gemm_n
        x, y = torch.rand(n, n), torch.rand(n, n)
        out = torch.empty(n, n)
        torch.mm(x, y, out=out)
        torch.mm(x, y, out=out)
        best = float("inf")
        for _ in range(a.gemm_reps):
            t0 = time.perf_counter()
            torch.mm(x, y, out=out)
            best = min(best, time.perf_counter() - t0)
        note(f"{n} x {n} x {n} float32 product, best of {a.gemm_reps}: {best * 1e3:.2f} ms")
        kv("gemm_gflops", "%.2f", 2 * n ** 3 / best / 1e9)
        kv("peak_rss_mb", "%.1f", peak_rss_mb())
        return

    model = build(a.net, torch.nn)
    side = 224 if a.net == "mobilenet" else 32
    n_weights = sum(p.numel() for p in model.parameters())
    note(f"{a.net}: {len(list(model.parameters()))} parameter tensors, {n_weights / 1e6:.2f} M weights")
    kv("flops_per_img", "%.0f", count_flops(model, (3, side, side), torch))

    # ---- MobileNetV2 inference ---------------------------------------------
    if a.net == "mobilenet":
        model.eval()
        batches = [int(b) for b in a.mobilenet_batches.split()]
        for bs in batches:
            xb = torch.rand(bs, 3, side, side)
            with torch.inference_mode():
                model(xb)
                model(xb)
                best = best_cpu = float("inf")
                for _ in range(a.mobilenet_reps):
                    t0, c0 = time.perf_counter(), time.process_time()
                    model(xb)
                    best = min(best, time.perf_counter() - t0)
                    best_cpu = min(best_cpu, time.process_time() - c0)
            note(f"batch {bs}: best of {a.mobilenet_reps} calls {best * 1e3:.2f} ms")
            kv(f"infer_img_per_s_b{bs}", "%.2f", bs / best)
            kv(f"infer_img_per_cpu_s_b{bs}", "%.2f", bs / best_cpu)
            if a.profile > 0 and bs == max(batches):
                from torch.autograd import profiler
                with torch.inference_mode(), profiler.profile() as prof:
                    for _ in range(a.profile):
                        model(xb)
                note(f"torch profiler, {a.profile} inference call(s) at batch {bs}:")
                print_profile(prof, a.top)
        note(f"loadavg at end {loadavg()}")
        kv("peak_rss_mb", "%.1f", peak_rss_mb())
        return

    # ---- training ------------------------------------------------------------
    gen = torch.Generator().manual_seed(a.seed)
    pool_x = torch.randint(0, 256, (a.pool, 3, side, side), dtype=torch.uint8, generator=gen)
    pool_y = torch.randint(0, 10, (a.pool,), generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    bs = a.batch_size

    def batches():
        while True:
            perm = torch.randperm(a.pool, generator=gen)
            for s in range(0, a.pool - bs + 1, bs):  # whole batches, as fit()'s stream
                idx = perm[s:s + bs]
                yield pool_x.index_select(0, idx).float().mul_(1 / 255), pool_y.index_select(0, idx)

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    model.train()
    it = batches()
    last = a.warmup_steps + a.steps
    t_mark = c_mark = t_last = c_last = float("nan")
    steady = 0
    t_all = time.perf_counter()
    for k in range(1, last + 1):
        xb, yb = next(it)
        loss = step(xb, yb)
        t, c = time.perf_counter(), time.process_time()
        if k == a.warmup_steps:
            t_mark, c_mark = t, c
        if k > a.warmup_steps:
            steady += xb.shape[0]
            t_last, c_last = t, c
    note(f"train: {last} steps in {time.perf_counter() - t_all:.2f}s (steady: {steady} images in "
         f"{t_last - t_mark:.2f}s after {a.warmup_steps} warm-up steps), loss {float(loss):.3f}, "
         f"loadavg {loadavg()}")
    kv("steps", "%d", a.steps)
    kv("train_img_per_s", "%.2f", steady / (t_last - t_mark))
    kv("train_img_per_cpu_s", "%.2f", steady / (c_last - c_mark))
    if a.profile > 0:
        from torch.autograd import profiler
        with profiler.profile() as prof:
            for _ in range(a.profile):
                step(*next(it))
        note(f"torch profiler, {a.profile} training step(s) at batch {bs}:")
        print_profile(prof, a.top)
    kv("train_peak_rss_mb", "%.1f", peak_rss_mb())

    # ---- evaluation ------------------------------------------------------------
    eb = min(a.eval_batch, a.eval_images, a.pool)
    n_eval = max(1, min(a.eval_images, a.pool) // eb) * eb
    model.eval()
    best = best_cpu = float("inf")
    with torch.inference_mode():
        model(pool_x[:eb].float().mul_(1 / 255))  # warm-up, as cnn.R's first predict()
        for _ in range(max(1, a.eval_reps)):
            t0, c0 = time.perf_counter(), time.process_time()
            for s in range(0, n_eval, eb):
                model(pool_x[s:s + eb].float().mul_(1 / 255))
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    note(f"eval: best of {a.eval_reps} passes over {n_eval} images in batches of {eb}: {best:.2f}s; "
         f"loadavg at end {loadavg()}")
    kv("eval_img_per_s", "%.2f", n_eval / best)
    kv("eval_img_per_cpu_s", "%.2f", n_eval / best_cpu)
    kv("peak_rss_mb", "%.1f", peak_rss_mb())


if __name__ == "__main__":
    main()
