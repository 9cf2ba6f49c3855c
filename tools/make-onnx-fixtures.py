#!/usr/bin/python3
"""Writes the small ONNX fixtures symnet ships and tests with (run with Debian's
/usr/bin/python3, which has python3-torch and python3-onnx):

  inst/extdata/onnx/mlp.onnx, mlp_input_0.pb, mlp_output_0.pb
      a 4-8-3 MLP with fixed weights (examples, vignette)
  tests/testthat/fixtures/onnx/small_cnn.onnx, small_cnn_input_0.pb, small_cnn_output_0.pb
      a CNN trained for a few steps in PyTorch on random data: grouped and depthwise
      convolutions, batch norm, ceil-mode max pooling, average pooling with padding,
      global pooling, flatten, Gemm with a transposed weight, Concat and Split

Usage: /usr/bin/python3 tools/make-onnx-fixtures.py   (from the package root)
"""
import os

import numpy as np
import onnx
import torch
from onnx import numpy_helper

torch.manual_seed(20261207)
np.random.seed(20261207)


def save_pb(array, path):
    onnx.save_tensor(numpy_helper.from_array(np.ascontiguousarray(array)), path)


def export(model, x, base, opset):
    model.eval()
    with torch.no_grad():
        y = model(x)
    # PRESERVE keeps BatchNormalization nodes (EVAL would fold them into the convolutions).
    torch.onnx.export(model, x, base + ".onnx", opset_version=opset, input_names=["input"],
                      training=torch.onnx.TrainingMode.PRESERVE,
                      output_names=["output"], do_constant_folding=False)
    onnx.checker.check_model(onnx.load(base + ".onnx"))
    save_pb(x.numpy(), base + "_input_0.pb")
    save_pb(y.numpy(), base + "_output_0.pb")


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.grouped = torch.nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.depthwise = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.pool = torch.nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.avg = torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        a, b = torch.split(self.grouped(x), 4, dim=1)
        x = torch.cat([torch.relu(a), torch.sigmoid(b)], dim=1)
        x = self.pool(x)
        x = torch.relu(self.depthwise(x))
        x = torch.cat([torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.avg(x), 1), 1),
                       torch.flatten(torch.nn.functional.adaptive_max_pool2d(x, 1), 1)], dim=1)
        return self.fc(x)


def main():
    os.makedirs("inst/extdata/onnx", exist_ok=True)
    os.makedirs("tests/testthat/fixtures/onnx", exist_ok=True)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3), torch.nn.Softmax(dim=1))
    export(mlp, torch.rand(2, 4), "inst/extdata/onnx/mlp", 13)

    cnn = SmallCNN()
    opt = torch.optim.SGD(cnn.parameters(), lr=0.05, momentum=0.9)
    xs, ys = torch.randn(64, 3, 16, 16), torch.randint(0, 5, (64,))
    cnn.train()
    for _ in range(20):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(cnn(xs), ys)
        loss.backward()
        opt.step()
    export(cnn, torch.randn(4, 3, 16, 16), "tests/testthat/fixtures/onnx/small_cnn", 13)


if __name__ == "__main__":
    main()
