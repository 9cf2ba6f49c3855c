# PyTorch counterpart of inst/benchmarks/lstm.R and tests/engine/bench_lstm.cpp: one nn.LSTM
# (or nn.GRU) layer, seq 50, batch 64, input 128, hidden 256, float32 on the CPU. Training
# step = forward + backward to the input and the parameters (y.backward(g) with a fixed g);
# inference = forward under no_grad. Debian: apt install python3-torch.
#   /usr/bin/python3 inst/benchmarks/lstm_torch.py [--cell lstm|gru] [reps] [threads...]
import sys, time, torch

args = sys.argv[1:]
cell = "lstm"
if len(args) >= 2 and args[0] == "--cell":
    cell, args = args[1], args[2:]
reps = int(args[0]) if args else 30
threads = [int(a) for a in args[1:]] or [1, 2]
seq, batch, n_in, hidden = 50, 64, 128, 256
torch.manual_seed(0)
layer = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(n_in, hidden)
x = (torch.rand(seq, batch, n_in) * 2 - 1).requires_grad_()
g = torch.rand(seq, batch, hidden) * 2 - 1

def train():
    layer.zero_grad(set_to_none=True)
    x.grad = None
    y, _ = layer(x)
    y.backward(g)

def infer():
    with torch.no_grad():
        layer(x)

def best_ms(f):
    f(); f()
    b = 1e30
    for _ in range(reps):
        t0 = time.perf_counter(); f(); b = min(b, (time.perf_counter() - t0) * 1e3)
    return b

print(f"torch {torch.__version__} nn.{cell.upper()}: seq {seq}, batch {batch}, input {n_in}, hidden {hidden}, float32, best of {reps}")
for nt in threads:
    torch.set_num_threads(nt)
    tr, inf = best_ms(train), best_ms(infer)
    print(f"threads {nt}: training {tr:8.2f} ms/step {batch * 1000 / tr:8.0f} seq/s | inference {inf:8.2f} ms {batch * 1000 / inf:8.0f} seq/s")
