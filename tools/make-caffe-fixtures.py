#!/usr/bin/python3
"""Writes the small Caffe fixtures symnet ships and tests with (run with Debian's
/usr/bin/python3, which has python3-torch, python3-onnx and python3-protobuf, and with
protoc on the PATH). The files are written with symnet's own schema
(src/engine/io/caffe/caffe_subset.proto, compiled for Python into a temporary folder),
and PyTorch computes the expected outputs from the same weights:

  inst/extdata/caffe/tiny.prototxt, tiny.caffemodel
      conv -> ReLU -> max pool -> InnerProduct -> Softmax on 1x8x8 inputs (examples)
  tests/testthat/fixtures/caffe/zoo.prototxt, zoo.caffemodel, zoo_input.pb, zoo_output.pb
      every converted layer type: Input, grouped Convolution, BatchNorm alone and with an
      in-place Scale, leaky ReLU, MAX and AVE pooling with rounded-up (partial) last
      windows, Split, Sigmoid, TanH, Eltwise SUM (coefficients) / PROD / MAX, Concat, LRN,
      a standalone Scale, Dropout, Flatten, InnerProduct, Reshape, Softmax over axis 2, and
      a TRAIN-only loss layer that the import leaves out
  tests/testthat/fixtures/caffe/v1.prototxt, v1.caffemodel, v1_input.pb, v1_output.pb
      the V1 format ("layers { type: CONVOLUTION }", input/input_dim, legacy 4-D blob shapes)
  tests/testthat/fixtures/caffe/bad_count.caffemodel, huge_dims.caffemodel,
  missing_blob.caffemodel
      tiny.caffemodel with a weight blob whose shape disagrees with its data, one claiming
      2^62 values, and one without its InnerProduct blobs

Usage: /usr/bin/python3 tools/make-caffe-fixtures.py   (from the package root)
"""
import importlib
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from google.protobuf import text_format
from onnx import numpy_helper

rng = np.random.default_rng(20261207)
FIX = "tests/testthat/fixtures/caffe"
EXT = "inst/extdata/caffe"


def load_schema():
    tmp = tempfile.mkdtemp()
    subprocess.check_call(["protoc", "--proto_path=src/engine/io/caffe", "--python_out=" + tmp,
                           "src/engine/io/caffe/caffe_subset.proto"])
    sys.path.insert(0, tmp)
    return importlib.import_module("caffe_subset_pb2")


pb = load_schema()


def randn(*shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def set_blob(blob, array, legacy=False):
    array = np.asarray(array, dtype=np.float32)
    if legacy:  # num, channels, height, width: the shape right-aligned in 4 dims
        dims = [1] * (4 - array.ndim) + list(array.shape)
        blob.num, blob.channels, blob.height, blob.width = dims
    else:
        blob.shape.dim.extend(array.shape)
    blob.data.extend(array.ravel().tolist())


def save_pb(array, path):
    onnx.save_tensor(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32)), path)


def write_net(net, weights, base):
    """weights: layer name -> list of arrays (legacy: 4-D blob shapes, V1 layers)."""
    with open(base + ".prototxt", "w") as f:
        f.write(text_format.MessageToString(net))
    model = pb.NetParameter()
    model.CopyFrom(net)
    for layer in list(model.layer) + list(model.layers):
        for arr in weights.get(layer.name, []):
            set_blob(layer.blobs.add(), arr, legacy=len(model.layers) > 0)
    with open(base + ".caffemodel", "wb") as f:
        f.write(model.SerializeToString())
    return model


def layer(net, name, type_, bottoms, tops):
    l = net.layer.add()
    l.name, l.type = name, type_
    l.bottom.extend(bottoms)
    l.top.extend(tops)
    return l


def t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float32))


def tiny():
    net = pb.NetParameter(name="tiny")
    net.input.append("data")
    net.input_shape.add().dim.extend([1, 1, 8, 8])
    c = layer(net, "conv", "Convolution", ["data"], ["conv"]).convolution_param
    c.num_output, c.kernel_size[:] = 4, [3]
    layer(net, "relu", "ReLU", ["conv"], ["conv"])
    p = layer(net, "pool", "Pooling", ["conv"], ["pool"]).pooling_param
    p.pool, p.kernel_size, p.stride = pb.PoolingParameter.MAX, 2, 2
    layer(net, "fc", "InnerProduct", ["pool"], ["fc"]).inner_product_param.num_output = 3
    layer(net, "prob", "Softmax", ["fc"], ["prob"])
    w = {"conv": [randn(4, 1, 3, 3), randn(4)], "fc": [randn(3, 36), randn(3)]}
    model = write_net(net, w, EXT + "/tiny")
    # hostile copies of the weights
    bad = pb.NetParameter()
    bad.CopyFrom(model)
    del bad.layer[0].blobs[0].data[-1]
    open(FIX + "/bad_count.caffemodel", "wb").write(bad.SerializeToString())
    huge = pb.NetParameter()
    huge.CopyFrom(model)
    huge.layer[0].blobs[0].shape.dim[:] = [1 << 31, 1 << 31]
    open(FIX + "/huge_dims.caffemodel", "wb").write(huge.SerializeToString())
    missing = pb.NetParameter()
    missing.CopyFrom(model)
    for l in missing.layer:
        if l.name == "fc":
            del l.blobs[:]
    open(FIX + "/missing_blob.caffemodel", "wb").write(missing.SerializeToString())
    x = np.linspace(-1, 1, 2 * 64, dtype=np.float32).reshape(2, 1, 8, 8)
    y = F.relu(F.conv2d(t(x), t(w["conv"][0]), t(w["conv"][1])))
    y = F.max_pool2d(y, 2, 2, ceil_mode=True)
    y = F.softmax(F.linear(y.flatten(1), t(w["fc"][0]), t(w["fc"][1])), dim=1)
    save_pb(x, FIX + "/tiny_input.pb")
    save_pb(y.numpy(), FIX + "/tiny_output.pb")


def zoo():
    net = pb.NetParameter(name="zoo")
    layer(net, "data", "Input", [], ["data"]).input_param.shape.add().dim.extend([2, 3, 12, 12])
    w = {}
    c = layer(net, "conv1", "Convolution", ["data"], ["conv1"]).convolution_param
    c.num_output, c.kernel_size[:], c.pad[:] = 8, [3], [1]
    c.weight_filler.type = "xavier"
    w["conv1"] = [randn(8, 3, 3, 3), randn(8)]
    bn1 = layer(net, "bn1", "BatchNorm", ["conv1"], ["conv1"])
    bn1.batch_norm_param.use_global_stats = True
    f1 = 2.0
    mean1, var1 = randn(8), np.abs(randn(8)) + 0.5
    w["bn1"] = [mean1 * f1, var1 * f1, np.array([f1], np.float32)]
    layer(net, "relu1", "ReLU", ["conv1"], ["conv1"]).relu_param.negative_slope = 0.1
    p = layer(net, "pool1", "Pooling", ["conv1"], ["pool1"]).pooling_param
    p.pool, p.kernel_size, p.stride = pb.PoolingParameter.MAX, 3, 2
    c = layer(net, "conv2", "Convolution", ["pool1"], ["conv2"]).convolution_param
    c.num_output, c.group, c.kernel_h, c.kernel_w, c.pad_h, c.pad_w = 8, 2, 3, 1, 1, 0
    w["conv2"] = [randn(8, 4, 3, 1), randn(8)]
    layer(net, "bn2", "BatchNorm", ["conv2"], ["conv2"]).batch_norm_param.eps = 1e-3
    f2 = 0.5
    mean2, var2 = randn(8), np.abs(randn(8)) + 0.5
    w["bn2"] = [mean2 * f2, var2 * f2, np.array([f2], np.float32)]
    layer(net, "scale2", "Scale", ["conv2"], ["conv2"]).scale_param.bias_term = True
    gamma2, beta2 = randn(8) + 1, randn(8)
    w["scale2"] = [gamma2, beta2]
    layer(net, "split", "Split", ["conv2"], ["a", "b"])
    layer(net, "sig", "Sigmoid", ["a"], ["sa"])
    layer(net, "th", "TanH", ["b"], ["tb"])
    e = layer(net, "esum", "Eltwise", ["sa", "tb"], ["s"]).eltwise_param
    e.coeff[:] = [0.5, -1.5]
    layer(net, "eprod", "Eltwise", ["sa", "tb"], ["p"]).eltwise_param.operation = pb.EltwiseParameter.PROD
    layer(net, "emax", "Eltwise", ["sa", "tb"], ["mx"]).eltwise_param.operation = pb.EltwiseParameter.MAX
    layer(net, "cat", "Concat", ["s", "p", "mx"], ["cat"]).concat_param.axis = 1
    n = layer(net, "norm", "LRN", ["cat"], ["norm"]).lrn_param
    n.local_size, n.alpha, n.beta, n.k = 5, 0.5, 0.75, 2.0
    layer(net, "scale3", "Scale", ["norm"], ["norm"])
    gamma3 = randn(24) + 1
    w["scale3"] = [gamma3]
    p = layer(net, "pool2", "Pooling", ["norm"], ["pool2"]).pooling_param
    p.pool, p.kernel_size, p.stride, p.pad = pb.PoolingParameter.AVE, 3, 2, 1
    layer(net, "drop", "Dropout", ["pool2"], ["pool2"]).dropout_param.dropout_ratio = 0.3
    layer(net, "flat", "Flatten", ["pool2"], ["flat"])
    layer(net, "fc", "InnerProduct", ["flat"], ["fc"]).inner_product_param.num_output = 10
    w["fc"] = [randn(10, 384, scale=0.1), randn(10)]
    r = layer(net, "resh", "Reshape", ["fc"], ["resh"]).reshape_param
    r.shape.dim[:] = [0, 2, -1]
    layer(net, "prob", "Softmax", ["resh"], ["prob"]).softmax_param.axis = 2
    loss = layer(net, "loss", "SoftmaxWithLoss", ["fc", "label"], ["loss"])
    loss.include.add().phase = pb.TRAIN
    write_net(net, w, FIX + "/zoo")

    x = randn(2, 3, 12, 12, scale=1.0)
    y = F.conv2d(t(x), t(w["conv1"][0]), t(w["conv1"][1]), padding=1)
    y = F.batch_norm(y, t(mean1), t(var1), eps=1e-5)
    y = F.leaky_relu(y, 0.1)
    y = F.max_pool2d(y, 3, 2, ceil_mode=True)  # 12 -> 6: a partial last window
    y = F.conv2d(y, t(w["conv2"][0]), t(w["conv2"][1]), padding=(1, 0), groups=2)
    y = F.batch_norm(y, t(mean2), t(var2), t(gamma2), t(beta2), eps=1e-3)
    sa, tb = torch.sigmoid(y), torch.tanh(y)
    y = torch.cat([0.5 * sa - 1.5 * tb, sa * tb, torch.maximum(sa, tb)], 1)
    y = F.local_response_norm(y, 5, alpha=0.5, beta=0.75, k=2.0)
    y = y * t(gamma3).reshape(1, -1, 1, 1)
    # 6 -> 4 with padding 1: the last window runs past the padding; Caffe and PyTorch
    # divide by the window clipped to the padded input
    y = F.avg_pool2d(y, 3, 2, padding=1, ceil_mode=True, count_include_pad=True)
    y = F.linear(y.flatten(1), t(w["fc"][0]), t(w["fc"][1]))
    y = F.softmax(y.reshape(2, 2, -1), dim=2)
    save_pb(x, FIX + "/zoo_input.pb")
    save_pb(y.numpy(), FIX + "/zoo_output.pb")


def v1():
    net = pb.NetParameter(name="v1net")
    net.input.append("data")
    net.input_dim.extend([1, 1, 10, 10])
    V1 = pb.V1LayerParameter

    def v1layer(name, type_, bottom, top):
        l = net.layers.add()
        l.name, l.type = name, type_
        l.bottom.append(bottom)
        l.top.append(top)
        return l

    c = v1layer("conv", V1.CONVOLUTION, "data", "conv").convolution_param
    c.num_output, c.kernel_size[:], c.stride[:] = 4, [3], [2]
    v1layer("relu", V1.RELU, "conv", "conv")
    p = v1layer("pool", V1.POOLING, "conv", "pool").pooling_param
    p.pool, p.kernel_size, p.stride = pb.PoolingParameter.MAX, 2, 2
    v1layer("ip", V1.INNER_PRODUCT, "pool", "ip").inner_product_param.num_output = 5
    v1layer("prob", V1.SOFTMAX, "ip", "prob")
    w = {"conv": [randn(4, 1, 3, 3), randn(4)], "ip": [randn(5, 16), randn(5)]}
    write_net(net, w, FIX + "/v1")
    x = randn(3, 1, 10, 10, scale=1.0)
    y = F.relu(F.conv2d(t(x), t(w["conv"][0]), t(w["conv"][1]), stride=2))
    y = F.max_pool2d(y, 2, 2, ceil_mode=True)
    y = F.softmax(F.linear(y.flatten(1), t(w["ip"][0]), t(w["ip"][1])), dim=1)
    save_pb(x, FIX + "/v1_input.pb")
    save_pb(y.numpy(), FIX + "/v1_output.pb")


def main():
    os.makedirs(FIX, exist_ok=True)
    os.makedirs(EXT, exist_ok=True)
    tiny()
    zoo()
    v1()


if __name__ == "__main__":
    main()
