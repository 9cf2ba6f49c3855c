// Caffe import: the reader validates files before allocating from them and refuses what
// it cannot read faithfully; the importer's conversions (BatchNorm + Scale folding, phase
// filtering, Caffe's output rule, pooling edges) and its classed errors.
#include <cmath>
#include <string>

#include "engine/io/caffe/caffe_import.h"
#include "engine/io/caffe/caffe_model.h"
#include "harness.h"

#ifdef SYMNET_HAVE_PROTOBUF
#include "engine/io/caffe/caffe_subset.pb.h"
#endif

using namespace symnet;

namespace {

using symnet::test::kind_of;

caffe::Blob blob(Shape shape, const std::vector<float>& values) {
  caffe::Blob b;
  b.value = Tensor(DType::f32, shape);
  REQUIRE(b.value.numel() == static_cast<int64_t>(values.size()));
  std::copy(values.begin(), values.end(), b.value.ptr<float>());
  return b;
}

caffe::Layer layer(const std::string& name, const std::string& type, std::vector<std::string> bottoms,
                   std::vector<std::string> tops) {
  caffe::Layer l;
  l.name = name;
  l.type = type;
  l.bottoms = std::move(bottoms);
  l.tops = std::move(tops);
  return l;
}

// x [2, 3, 4, 4] -> BatchNorm (in place) -> Scale with bias (in place).
caffe::NetDef bn_scale_net() {
  caffe::NetDef net;
  net.inputs = {"x"};
  net.input_dims = {{2, 3, 4, 4}};
  caffe::Layer bn = layer("bn", "BatchNorm", {"x"}, {"y"});
  // mean * f, var * f, f with f = 4
  bn.blobs = {blob({3}, {0.4f, -0.8f, 2.0f}), blob({3}, {4.0f, 8.0f, 0.4f}), blob({1}, {4.0f})};
  caffe::Layer sc = layer("sc", "Scale", {"y"}, {"y"});
  sc.params["scale_param.bias_term"].ints = {1};
  sc.blobs = {blob({3}, {2.0f, -1.0f, 0.5f}), blob({3}, {0.0f, 1.0f, -3.0f})};
  net.layers = {bn, sc};
  return net;
}

Tensor run(const caffe::ImportedNet& im, const Tensor& x) {
  Graph g = Graph::from_outputs(im.outputs);
  g.inputs = im.inputs;
  return test::run_graph(g, {x}, true, "cpu").at(0);
}

}  // namespace

TEST_CASE("Caffe BatchNorm with an in-place Scale folds into one batch norm with running state", "[caffe]") {
  caffe::ImportedNet im = caffe::import_net(bn_scale_net(), caffe::NetDef{});
  REQUIRE(im.input_names == std::vector<std::string>{"x"});
  REQUIRE(im.output_names == std::vector<std::string>{"y"});
  REQUIRE(im.inputs[0].shape() == Shape{kUnknownDim, 3, 4, 4});  // any batch size
  REQUIRE(im.outputs[0].node->op_name() == "batch_norm");
  REQUIRE(im.outputs[0].node->name == "bn/batch_norm");  // nodes named "<layer>/<what>"
  REQUIRE(im.layer_types == std::map<std::string, std::string>{{"bn", "BatchNorm"}, {"sc", "Scale"}});
  std::map<std::string, bool> vars;
  for (const VariablePtr& v : im.variables) vars[v->name] = v->trainable;
  REQUIRE(vars == std::map<std::string, bool>{{"bn/mean", false}, {"bn/variance", false}, {"sc/weight", true}, {"sc/bias", true}});
  const Tensor x = test::random_tensor(DType::f32, {2, 3, 4, 4}, 7);
  const Tensor y = run(im, x);
  const double mean[] = {0.1, -0.2, 0.5}, var[] = {1.0, 2.0, 0.1}, g[] = {2, -1, 0.5}, b[] = {0, 1, -3};
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = (i / 16) % 3;
    const double want = g[c] * (x.get_as_double(i) - mean[c]) / std::sqrt(var[c] + 1e-5) + b[c];
    CHECK(y.get_as_double(i) == Approx(want).margin(1e-4));
  }
}

TEST_CASE("Caffe layers of the TRAIN phase are left out; outputs are the blobs nothing consumes", "[caffe]") {
  caffe::NetDef net;
  net.inputs = {"x"};
  net.input_dims = {{1, 4}};
  caffe::Layer loss = layer("loss", "SoftmaxWithLoss", {"x", "label"}, {"loss"});
  loss.include = {caffe::Rule{caffe::kTrain, false}};
  caffe::Layer split = layer("split", "Split", {"x"}, {"a", "b"});
  caffe::Layer sig = layer("sig", "Sigmoid", {"a"}, {"s"});
  caffe::Layer relu = layer("relu", "ReLU", {"b"}, {"b"});
  caffe::Layer only_train = layer("noise", "Dropout", {"s"}, {"s"});
  only_train.exclude = {caffe::Rule{caffe::kTest, false}};
  net.layers = {loss, split, sig, relu, only_train};
  caffe::ImportedNet im = caffe::import_net(net, caffe::NetDef{});
  REQUIRE(im.output_names == std::vector<std::string>{"s", "b"});
  REQUIRE(im.outputs[0].node->op_name() == "sigmoid");
  REQUIRE(im.outputs[1].node->op_name() == "relu");
  REQUIRE(im.values.count("a"));

  net.layers[0].include.clear();  // the loss now runs at TEST time: not a type symnet converts
  REQUIRE(kind_of([&] { caffe::import_net(net, caffe::NetDef{}); }) == ErrorKind::unsupported);
}

TEST_CASE("Caffe weights come from the caffemodel by layer name, checked against the layer", "[caffe]") {
  caffe::NetDef net;
  net.inputs = {"x"};
  net.input_dims = {{2, 6}};
  caffe::Layer ip = layer("ip", "InnerProduct", {"x"}, {"y"});
  ip.params["inner_product_param.num_output"].ints = {2};
  net.layers = {ip};
  caffe::NetDef weights;
  caffe::Layer w = layer("ip", "InnerProduct", {}, {});
  // legacy 4-D shape [1, 1, 2, 6] of a [2, 6] weight
  w.blobs = {blob({1, 1, 2, 6}, std::vector<float>(12, 0.5f)), blob({2}, {1.0f, -1.0f})};
  weights.layers = {w};
  caffe::ImportedNet im = caffe::import_net(net, weights);
  REQUIRE(im.variables.size() == 2);
  REQUIRE(im.variables[0]->name == "ip/weight");
  REQUIRE(im.variables[0]->shape() == Shape{2, 6});
  const Tensor x = test::random_tensor(DType::f32, {3, 6}, 3);
  const Tensor y = run(im, x);
  for (int64_t r = 0; r < 3; ++r) {
    double s = 0;
    for (int64_t k = 0; k < 6; ++k) s += 0.5 * x.get_as_double(r * 6 + k);
    CHECK(y.get_as_double(r * 2) == Approx(s + 1).margin(1e-5));
    CHECK(y.get_as_double(r * 2 + 1) == Approx(s - 1).margin(1e-5));
  }

  SECTION("missing and mis-sized blobs are value errors") {
    REQUIRE(kind_of([&] { caffe::import_net(net, caffe::NetDef{}); }) == ErrorKind::value);
    weights.layers[0].blobs[0] = blob({2, 5}, std::vector<float>(10, 0.0f));
    REQUIRE(kind_of([&] { caffe::import_net(net, weights); }) == ErrorKind::value);
  }
  SECTION("unknown parameters and layer types are refused by name") {
    net.layers[0].params["inner_product_param.fancy"].ints = {1};
    try {
      caffe::import_net(net, weights);
      FAIL("no error");
    } catch (const Error& e) {
      REQUIRE(e.kind() == ErrorKind::unsupported);
      REQUIRE(std::string(e.what()).find("fancy") != std::string::npos);
    }
    net.layers[0] = layer("p", "PReLU", {"x"}, {"y"});
    REQUIRE(kind_of([&] { caffe::import_net(net, weights); }) == ErrorKind::unsupported);
  }
  SECTION("hostile input shapes and dangling bottoms are value errors") {
    net.input_dims = {{2, int64_t{1} << 40}};
    REQUIRE(kind_of([&] { caffe::import_net(net, weights); }) == ErrorKind::value);
    net.input_dims = {{2, 6}};
    net.layers[0].bottoms = {"nope"};
    REQUIRE(kind_of([&] { caffe::import_net(net, weights); }) == ErrorKind::value);
  }
}

TEST_CASE("Caffe pooling rounds up like PyTorch's ceil mode and refuses windows past the input", "[caffe]") {
  caffe::NetDef net;
  net.inputs = {"x"};
  net.input_dims = {{1, 1, 12, 12}};
  caffe::Layer pool = layer("pool", "Pooling", {"x"}, {"y"});
  pool.params["pooling_param.kernel_size"].ints = {3};
  pool.params["pooling_param.stride"].ints = {2};
  net.layers = {pool};
  REQUIRE(caffe::import_net(net, caffe::NetDef{}).outputs[0].shape() == Shape{kUnknownDim, 1, 6, 6});
  // kernel 1, stride 2, no padding on 12: Caffe's last window starts at 12, past the input
  net.layers[0].params["pooling_param.kernel_size"].ints = {1};
  REQUIRE(kind_of([&] { caffe::import_net(net, caffe::NetDef{}); }) == ErrorKind::unsupported);
  net.layers[0].params["pooling_param.kernel_size"].ints = {3};
  net.layers[0].params["pooling_param.pool"].ints = {2};  // STOCHASTIC
  REQUIRE(kind_of([&] { caffe::import_net(net, caffe::NetDef{}); }) == ErrorKind::unsupported);
}

#ifndef SYMNET_HAVE_PROTOBUF
TEST_CASE("without protobuf the Caffe readers say how to enable them", "[caffe]") {
  REQUIRE(kind_of([] { caffe::parse_prototxt("name: 'x'"); }) == ErrorKind::unsupported);
  REQUIRE(kind_of([] { caffe::read_caffemodel_file("x.caffemodel"); }) == ErrorKind::unsupported);
}
#else

namespace {
namespace pb = symnet_caffe;

std::string conv_model(const std::vector<int64_t>& dims, int n_values) {
  pb::NetParameter net;
  pb::LayerParameter* l = net.add_layer();
  l->set_name("conv");
  l->set_type("Convolution");
  pb::BlobProto* b = l->add_blobs();
  for (int64_t d : dims) b->mutable_shape()->add_dim(d);
  for (int i = 0; i < n_values; ++i) b->add_data(0.5f);
  return net.SerializeAsString();
}
}  // namespace

TEST_CASE("Caffe prototxt: both layer formats, inputs and flattened parameters", "[caffe]") {
  caffe::NetDef net = caffe::parse_prototxt(R"(
    name: "n"
    input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
    layers { name: "c" type: CONVOLUTION bottom: "data" top: "c"
             convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } }
             blobs_lr: 1 }
    layers { name: "d" type: DATA top: "x" }
  )");
  REQUIRE(net.name == "n");
  REQUIRE(net.inputs == std::vector<std::string>{"data"});
  REQUIRE(net.input_dims[0] == std::vector<int64_t>{1, 3, 8, 8});
  REQUIRE(net.layers.size() == 2);
  REQUIRE(net.layers[0].type == "Convolution");
  REQUIRE(net.layers[1].type == "DATA");
  REQUIRE(net.layers[0].params.at("convolution_param.num_output").ints == std::vector<int64_t>{4});
  REQUIRE(net.layers[0].params.at("convolution_param.weight_filler.type").strings == std::vector<std::string>{"xavier"});

  caffe::NetDef v2 = caffe::parse_prototxt(R"(
    layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 5 } } }
    layer { name: "data" type: "Data" top: "y" data_param { source: "db" batch_size: 4 }
            include { phase: TRAIN } transform_param { mirror: true } }
  )");
  REQUIRE(v2.layers[0].params.at("input_param.shape.0.dim").ints == std::vector<int64_t>{2, 5});
  REQUIRE(v2.layers[1].include.size() == 1);
  REQUIRE(v2.layers[1].include[0].phase == caffe::kTrain);
  REQUIRE(v2.layers[1].params.empty());  // data-layer settings symnet does not read are skipped
}

TEST_CASE("Caffe prototxt: malformed text is a value error, unknown layer parameters unsupported", "[caffe]") {
  REQUIRE(kind_of([] { caffe::parse_prototxt("layer { name: \"a\" "); }) == ErrorKind::value);
  REQUIRE(kind_of([] { caffe::parse_prototxt("layer { name: 3.5.1 }"); }) == ErrorKind::value);
  REQUIRE(kind_of([] { caffe::parse_prototxt("input: \"x\" input_dim: 1 input_dim: 2"); }) == ErrorKind::value);
  try {
    caffe::parse_prototxt("layer { name: \"c\" type: \"Convolution\" convolution_param { num_output: 2 fused_relu: true } }");
    FAIL("no error");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::unsupported);
    REQUIRE(std::string(e.what()).find("fused_relu") != std::string::npos);
  }
  // however many harmless unknown fields come first
  std::string text;
  for (int i = 0; i < 40; ++i) text += "layer { name: \"d" + std::to_string(i) + "\" type: \"Data\" data_param { source: \"x\" } }\n";
  REQUIRE(caffe::parse_prototxt(text).layers.size() == 40);
  text += "layer { name: \"c\" type: \"Convolution\" convolution_param { fuse_type: 1 } }";
  REQUIRE(kind_of([&] { caffe::parse_prototxt(text); }) == ErrorKind::unsupported);
}

TEST_CASE("Caffe caffemodel: blobs are checked against their data before allocation", "[caffe]") {
  caffe::NetDef ok = caffe::parse_caffemodel(conv_model({2, 3}, 6));
  REQUIRE(ok.layers[0].blobs[0].value.shape() == Shape{2, 3});
  REQUIRE(kind_of([] { caffe::parse_caffemodel(conv_model({2, 3}, 5)); }) == ErrorKind::value);
  REQUIRE(kind_of([] { caffe::parse_caffemodel(conv_model({int64_t{1} << 31, int64_t{1} << 31}, 4)); }) == ErrorKind::value);
  REQUIRE(kind_of([] { caffe::parse_caffemodel(conv_model({-2, -3}, 6)); }) == ErrorKind::value);
  REQUIRE(kind_of([] { caffe::parse_caffemodel(std::string("\xff\xff\xff\xff garbage", 13)); }) == ErrorKind::value);
  const std::string good = conv_model({2, 3}, 6);
  REQUIRE(kind_of([&] { caffe::parse_caffemodel(good.substr(0, good.size() - 3)); }) == ErrorKind::value);

  // legacy num/channels/height/width and double data
  pb::NetParameter net;
  pb::V1LayerParameter* l = net.add_layers();
  l->set_name("ip");
  l->set_type(pb::V1LayerParameter::INNER_PRODUCT);
  pb::BlobProto* b = l->add_blobs();
  b->set_num(1);
  b->set_channels(1);
  b->set_height(2);
  b->set_width(2);
  for (int i = 0; i < 4; ++i) b->add_double_data(i + 0.25);
  caffe::NetDef legacy = caffe::parse_caffemodel(net.SerializeAsString());
  REQUIRE(legacy.layers[0].type == "InnerProduct");
  REQUIRE(legacy.layers[0].blobs[0].value.shape() == Shape{1, 1, 2, 2});
  REQUIRE(legacy.layers[0].blobs[0].value.get_as_double(3) == Approx(3.25));
}
#endif
