#!/usr/bin/python3
"""Classic LeNet on Fashion-MNIST with PyTorch (CPU): the peer of lenet.R.

Run it with Debian's interpreter and python3-torch:

    /usr/bin/python3 inst/benchmarks/lenet_torch.py --threads 2 --epochs 2

Model: conv 5x5x20 tanh, max-pool 2, conv 5x5x50 tanh, max-pool 2,
dense 500 tanh, dense 10; softmax cross-entropy from logits;
SGD lr 0.05 momentum 0.9; batch 128, shuffled every epoch; inputs in [0, 1].

Printed lines (one "key value" pair per line, '#' lines are comments):

  train_img_per_s  steady-state training throughput: the images of the steps
                   after the first --warmup-steps (default 20) divided by the
                   wall time from the end of step 20 to the end of the last
                   step (lenet.R measures the same way); a step is: gather
                   the mini-batch rows, forward, loss, backward, optimizer
                   update (what fit() does per step), epoch boundaries
                   (reshuffling) included.
  eval_img_per_s   inference throughput over the whole test set (10 000
                   images) in batches of --eval-batch (default 1000), no
                   gradients; best of --eval-reps (default 3) passes.
  test_accuracy    fraction correct on the 10 000 test images after training.
  peak_rss_mb      peak resident set size of the process (ru_maxrss), MiB.
  train_img_per_cpu_s, eval_img_per_cpu_s
                   the same images divided by the process CPU time (all
                   threads, user + system) instead of the wall time: less
                   sensitive to a loaded machine, blind to idle waits.

--max-steps N stops training after N steps (quick runs); --profile K also
prints a per-op table (torch.autograd.profiler) for K training steps taken
after the warm-up, as '#' lines.
"""

import argparse
import gzip
import os
import resource
import struct
import sys
import time

import numpy as np

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """Read an idx file (optionally .gz) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def find_file(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    sys.exit(f"error: {stem}(.gz) not found in {data_dir} "
             "(install the Debian package dataset-fashion-mnist or pass --data)")


def load_fashion_mnist(data_dir):
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(find_file(data_dir, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(find_file(data_dir, f"{prefix}-labels-idx1-ubyte"))
        out[split] = (x, y)
    return out


def loadavg():
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "NA"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=0,
                    help="stop training after this many steps (0: no limit)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--eval-batch", type=int, default=1000)
    ap.add_argument("--eval-reps", type=int, default=3)
    ap.add_argument("--warmup-steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data", default=os.environ.get("SYMNET_DATA_DIR", DEFAULT_DATA))
    ap.add_argument("--profile", type=int, default=0,
                    help="profile this many training steps after the warm-up")
    args = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)

    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"loadavg at start {loadavg()}")

    d = load_fashion_mnist(args.data)
    # Whole data set as float32 in [0, 1], NCHW, converted once (as usual).
    x_train = torch.from_numpy(d["train"][0].astype(np.float32) / 255.0).unsqueeze(1)
    y_train = torch.from_numpy(d["train"][1].astype(np.int64))
    x_test = torch.from_numpy(d["test"][0].astype(np.float32) / 255.0).unsqueeze(1)
    y_test = torch.from_numpy(d["test"][1].astype(np.int64))
    del d

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 20, 5)
            self.conv2 = nn.Conv2d(20, 50, 5)
            self.fc1 = nn.Linear(50 * 4 * 4, 500)
            self.fc2 = nn.Linear(500, 10)

        def forward(self, x):
            x = F.max_pool2d(torch.tanh(self.conv1(x)), 2)
            x = F.max_pool2d(torch.tanh(self.conv2(x)), 2)
            x = torch.flatten(x, 1)
            x = torch.tanh(self.fc1(x))
            return self.fc2(x)

    model = LeNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    n = x_train.shape[0]
    bs = args.batch_size
    gen = torch.Generator().manual_seed(args.seed)

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    # ---- training -------------------------------------------------------
    model.train()
    steps = 0
    steady_imgs = 0
    t_mark = t_last = float("nan")
    c_mark = c_last = float("nan")  # process CPU time (all threads)
    last_loss = float("nan")
    t_all = time.perf_counter()
    done = False
    for epoch in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            xb = x_train.index_select(0, idx)
            yb = y_train.index_select(0, idx)
            loss = step(xb, yb)
            t = time.perf_counter()
            c = time.process_time()
            steps += 1
            if steps == args.warmup_steps:
                t_mark, c_mark = t, c
            if steps > args.warmup_steps:
                steady_imgs += idx.numel()
                t_last, c_last = t, c
            if args.max_steps and steps >= args.max_steps:
                done = True
                break
        last_loss = float(loss)
        print(f"# epoch {epoch + 1}: loss {last_loss:.4f}, steps {steps}, "
              f"elapsed {time.perf_counter() - t_all:.1f}s, loadavg {loadavg()}")
        if done:
            break
    train_wall = time.perf_counter() - t_all
    steady_time = t_last - t_mark if steady_imgs > 0 else 0.0
    steady_cpu = c_last - c_mark if steady_imgs > 0 else 0.0

    # ---- optional profile of a few training steps ------------------------
    if args.profile > 0:
        from torch.autograd import profiler
        perm = torch.randperm(n, generator=gen)
        for s in range(3):  # warm again after the loop
            idx = perm[s * bs:(s + 1) * bs]
            step(x_train.index_select(0, idx), y_train.index_select(0, idx))
        with profiler.profile(record_shapes=True) as prof:
            for s in range(args.profile):
                idx = perm[(s + 3) * bs:(s + 4) * bs]
                step(x_train.index_select(0, idx), y_train.index_select(0, idx))
        print(f"# profile of {args.profile} training steps (times are totals over them), "
              f"loadavg {loadavg()}")
        tab = prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total", row_limit=40, max_name_column_width=40,
            max_shapes_column_width=70)
        for line in tab.splitlines():
            print("# " + line)

    # ---- evaluation ------------------------------------------------------
    model.eval()
    eb = args.eval_batch
    nt = x_test.shape[0]
    best = float("inf")
    best_cpu = float("inf")
    correct = 0
    with torch.inference_mode():
        for rep in range(max(1, args.eval_reps)):
            t0 = time.perf_counter()
            c0 = time.process_time()
            c = 0
            for start in range(0, nt, eb):
                logits = model(x_test[start:start + eb])
                c += int((logits.argmax(1) == y_test[start:start + eb]).sum())
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
            correct = c

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print(f"# train: {steps} steps in {train_wall:.2f}s "
          f"(steady: {steady_imgs} images in {steady_time:.2f}s after {args.warmup_steps} "
          f"warm-up steps), last loss {last_loss:.4f}")
    print(f"# eval: batch {eb}, best of {args.eval_reps} passes over {nt} images")
    print(f"# loadavg at end {loadavg()}")
    print("framework torch")
    print(f"threads {torch.get_num_threads()}")
    print(f"steps {steps}")
    print(f"train_img_per_s {steady_imgs / steady_time if steady_time > 0 else float('nan'):.1f}")
    print(f"eval_img_per_s {nt / best:.1f}")
    print(f"train_img_per_cpu_s {steady_imgs / steady_cpu if steady_cpu > 0 else float('nan'):.1f}")
    print(f"eval_img_per_cpu_s {nt / best_cpu if best_cpu > 0 else float('nan'):.1f}")
    print(f"test_accuracy {correct / nt:.4f}")
    print(f"peak_rss_mb {rss_mb:.1f}")


if __name__ == "__main__":
    main()
