#!/usr/bin/env python3
"""PyTorch companion of bench_train: the same training step on the same device.

  python3 torch_train.py --net lenet|resnet18 [--device cpu|cuda:N] [--batch B] [--image-size S]
                         [--steps N] [--warmup W] [--threads T] [--lr LR] [--feed host|resident]
                         [--tf32]

Nets: inst/benchmarks/lenet.R's LeNet (conv 5x5x20 tanh, max-pool 2, conv 5x5x50 tanh,
max-pool 2, dense 500 tanh, dense 10) on 1x28x28, batch 128; torchvision's resnet18
(1000 classes) on 3x224x224, batch 64. One fixed random batch (pixels uniform in [0, 1),
labels i mod classes), mean softmax cross-entropy, SGD with momentum 0.9 (lr 0.05 / 0.01),
train mode (batch norm on batch statistics, running statistics updated).

Timing: zero_grad / forward / backward / step, --warmup steps (cudnn.benchmark picks its
algorithms there), then --steps steps between two torch.cuda.synchronize() calls; no
per-step sync (PyTorch runs ahead of the GPU as it does in real training). --feed host
(default) copies the batch from host memory every step (what bench_train's feeds do);
--feed resident keeps it on the device. TF32 is off for convolutions and matrix products
unless --tf32 (bench_train's default is exact float32 too).

Prints '#' comments and 'key value' lines with bench_train's keys; peak_device_mib is
torch.cuda.max_memory_allocated() (tensors held by the caching allocator, cuDNN workspace
included) over the whole run.
"""
import argparse
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.max_pool2d(torch.tanh(self.conv2(x)), 2)
        x = torch.tanh(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def set_tf32(on):
    """TF32 for convolutions and matrix products, through the API this PyTorch has: 2.9 and
    later warn about (and may refuse to mix) the allow_tf32 flags once fp32_precision is used."""
    if hasattr(torch.backends, "fp32_precision"):
        mode = "tf32" if on else "ieee"
        torch.backends.cuda.matmul.fp32_precision = mode
        torch.backends.cudnn.conv.fp32_precision = mode
    else:
        torch.backends.cudnn.allow_tf32 = on
        torch.backends.cuda.matmul.allow_tf32 = on


def build(net):
    if net == "lenet":
        return LeNet(), (1, 28, 28), 10
    import torchvision
    return torchvision.models.resnet18(num_classes=1000), None, 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", choices=["lenet", "resnet18"], default="lenet")
    ap.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.0)
    ap.add_argument("--feed", choices=["host", "resident"], default="host")
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.steps < 1 or a.warmup < 1:
        ap.error("--steps and --warmup must be >= 1")

    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("torch_train: CUDA is not available to this PyTorch")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.backends.cudnn.benchmark = True
    set_tf32(a.tf32)

    model, image, classes = build(a.net)
    if image is None:
        image = (3, a.image_size, a.image_size)
    batch = a.batch or (128 if a.net == "lenet" else 64)
    lr = a.lr or (0.05 if a.net == "lenet" else 0.01)
    model = model.to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(a.seed + 1000)
    x_host = torch.rand((batch,) + image, generator=g)
    y_host = torch.arange(batch) % classes
    if a.feed == "resident":
        x_dev, y_dev = x_host.to(dev), y_host.to(dev)

    def step():
        x, y = (x_dev, y_dev) if a.feed == "resident" else (x_host.to(dev), y_host.to(dev))
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    loss_first = step().item()
    for _ in range(a.warmup - 1):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    sync()
    ms = (time.perf_counter() - t0) * 1000.0
    loss_last = loss.item()

    n_params = sum(p.numel() for p in model.parameters())
    print(f"# torch {torch.__version__}, cudnn {torch.backends.cudnn.version() if cuda else '-'}, "
          f"{torch.cuda.get_device_name(dev) if cuda else 'cpu'}; {a.net}: {n_params} parameters")
    ok = math.isfinite(loss_first) and math.isfinite(loss_last) and loss_last < loss_first
    print("framework torch")
    print(f"net {a.net}")
    print(f"device {a.device}")
    print(f"feed {a.feed}")
    print(f"tf32 {int(a.tf32 and cuda)}")
    print(f"batch {batch}")
    print(f"threads {torch.get_num_threads()}")
    print(f"steps {a.steps}")
    print(f"ms_per_step {ms / a.steps:.3f}")
    print(f"img_per_s {batch * a.steps * 1000.0 / ms:.1f}")
    print(f"loss_first {loss_first:.5f}")
    print(f"loss_last {loss_last:.5f}")
    print(f"loss_check {'ok' if ok else 'FAILED'}")
    if cuda:
        print(f"peak_device_mib {torch.cuda.max_memory_allocated(dev) / 2**20:.1f}")
        print(f"device_reserved_mib {torch.cuda.max_memory_reserved(dev) / 2**20:.1f}")
    print(f"peak_rss_mib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
