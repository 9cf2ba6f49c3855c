# scikit-learn counterpart of inst/benchmarks/rbm.R: BernoulliRBM (persistent CD-1, its only
# algorithm) with 256 hidden units, batch 64, learning rate 0.1, on Fashion-MNIST scaled to
# [0, 1]. Prints the time per epoch and the pseudo-log-likelihood (score_samples(), mean
# over the training images) after the last one; the time per epoch is that of the whole
# fit() divided by the number of epochs. Debian: apt install python3-sklearn.
#   /usr/bin/python3 inst/benchmarks/rbm_sklearn.py IMAGES.bin N EPOCHS DTYPE [WEIGHTS.bin]
# IMAGES.bin: N x 784 float32 values, row-major (written by rbm.R); DTYPE float32|float64.
# WEIGHTS.bin (optional output): components_ (256 x 784, row-major), intercept_hidden_,
# intercept_visible_ as float32, for rbm.R to compute the PLL the same way as symnet's.
# Threads: set OMP_NUM_THREADS / OPENBLAS_NUM_THREADS before starting (rbm.R does).
import sys, time
import numpy as np
from sklearn.neural_network import BernoulliRBM

path, n, epochs, dtype = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
wfile = sys.argv[5] if len(sys.argv) > 5 else None
x = np.fromfile(path, dtype=np.float32).reshape(n, 784).astype(dtype)
rbm = BernoulliRBM(n_components=256, learning_rate=0.1, batch_size=64, n_iter=epochs, random_state=0)
t0 = time.perf_counter()
rbm.fit(x)
secs = (time.perf_counter() - t0) / epochs
pll = float(np.mean([rbm.score_samples(x).mean() for _ in range(3)]))
if wfile:
    np.concatenate([rbm.components_.ravel(), rbm.intercept_hidden_, rbm.intercept_visible_]).astype(
        np.float32).tofile(wfile)
print("epoch_s %.3f" % secs)
print("pll %.4f" % pll)
