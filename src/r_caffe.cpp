// Rcpp glue of Caffe import (engine/io/caffe): reads the network and its weights,
// converts them to engine values and hands them to R, which builds the model (R/caffe.R).
#include "r_glue.h"

#include "engine/io/caffe/caffe_import.h"
#include "engine/io/caffe/caffe_model.h"

using namespace symnet;
using namespace symnet_r;

namespace {

Rcpp::List wrap_named(const std::vector<Value>& v, const std::vector<std::string>& names) {
  Rcpp::List out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = wrap_value(v[i]);
  out.attr("names") = Rcpp::wrap(names);
  return out;
}

}  // namespace

// free_batch: leave the first dimension of every input unknown.
// [[Rcpp::export]]
Rcpp::List cpp_import_caffe(std::string prototxt, std::string caffemodel, bool free_batch) {
  SN_R_BEGIN
  caffe::NetDef net = caffe::read_prototxt_file(prototxt);
  caffe::NetDef weights = caffe::read_caffemodel_file(caffemodel);
  caffe::ImportOptions opt;
  opt.free_batch = free_batch;
  caffe::ImportedNet im = caffe::import_net(net, weights, opt);
  std::vector<std::string> tnames;
  std::vector<Value> tvals;
  for (const auto& kv : im.values) {
    tnames.push_back(kv.first);
    tvals.push_back(kv.second);
  }
  return Rcpp::List::create(Rcpp::Named("inputs") = wrap_named(im.inputs, im.input_names),
                            Rcpp::Named("outputs") = wrap_named(im.outputs, im.output_names),
                            Rcpp::Named("tensors") = wrap_named(tvals, tnames),
                            Rcpp::Named("layer_types") = Rcpp::wrap(im.layer_types),
                            Rcpp::Named("net_name") = im.name);
  SN_R_END
  return Rcpp::List();
}
