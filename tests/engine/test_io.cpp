// The byte loaders of engine/io (idx, safetensors, the native model file) and the bound on
// what graph JSON may allocate: valid files read back exactly; damaged or hostile ones are
// value errors that allocate nothing beyond a bounded multiple of the input size.
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/io/idx.h"
#include "engine/io/model_file.h"
#include "engine/io/safetensors.h"
#include "engine/ir/json.h"
#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes idx_file(uint8_t type, std::vector<uint32_t> dims, Bytes payload) {
  Bytes b{0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// The message of the value error `f` throws ("" when it throws nothing, "<kind>" for
// another kind).
template <typename F>
std::string value_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::value) return std::string("<") + error_kind_name(e.kind()) + ">";
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<std: ") + e.what() + ">";
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string st_bytes(const std::string& header, const std::string& data) {
  std::string o(8, '\0');
  uint64_t n = header.size();
  for (int k = 0; k < 8; ++k) o[k] = static_cast<char>((n >> (8 * k)) & 0xFF);
  return o + header + data;
}

const uint8_t* u8(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

std::string json_quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += c; }
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o + "\"";
}

std::string bytes_of(const Tensor& t) {
  return std::string(static_cast<const char*>(t.data()), t.bytes());
}

}  // namespace

TEST_CASE("idx: elements come out in column-major order for every element type", "[io][idx]") {
  // 2 x 2 x 3, element (i, j, k) = 100 i + 10 j + k (0-based), stored row-major
  Bytes pay;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) pay.push_back(static_cast<uint8_t>(100 * i + 10 * j + k));
  Bytes f = idx_file(0x08, {2, 2, 3}, pay);
  io::IdxHeader h = io::idx_parse_header(f.data(), f.size());
  CHECK(h.dims == std::vector<int64_t>{2, 2, 3});
  CHECK(h.numel == 12);
  CHECK(h.total_bytes() == f.size());
  std::vector<int32_t> out(12);
  io::idx_decode(h, f.data(), f.size(), out.data());
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) CHECK(out[i + 2 * j + 4 * k] == 100 * i + 10 * j + k);

  // signed bytes, big-endian int16 / int32 / float32 / float64
  Bytes s8 = idx_file(0x09, {3}, {0xFF, 0x80, 0x7F});
  std::vector<int32_t> o8(3);
  io::idx_decode(io::idx_parse_header(s8.data(), s8.size()), s8.data(), s8.size(), o8.data());
  CHECK(o8 == std::vector<int32_t>{-1, -128, 127});
  Bytes s16 = idx_file(0x0B, {2}, {0xFF, 0xFE, 0x01, 0x02});
  std::vector<int32_t> o16(2);
  io::idx_decode(io::idx_parse_header(s16.data(), s16.size()), s16.data(), s16.size(), o16.data());
  CHECK(o16 == std::vector<int32_t>{-2, 258});
  Bytes s32 = idx_file(0x0C, {1}, {0x80, 0, 0, 1});
  std::vector<int32_t> o32(1);
  io::idx_decode(io::idx_parse_header(s32.data(), s32.size()), s32.data(), s32.size(), o32.data());
  CHECK(o32[0] == std::numeric_limits<int32_t>::min() + 1);
  Bytes f32 = idx_file(0x0D, {1, 2}, {0x3F, 0xC0, 0, 0, 0xC0, 0x20, 0, 0});  // 1.5, -2.5
  std::vector<double> of(2);
  io::idx_decode(io::idx_parse_header(f32.data(), f32.size()), f32.data(), f32.size(), of.data());
  CHECK(of == std::vector<double>{1.5, -2.5});
  Bytes f64 = idx_file(0x0E, {1}, {0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18});
  std::vector<double> od(1);
  io::idx_decode(io::idx_parse_header(f64.data(), f64.size()), f64.data(), f64.size(), od.data());
  CHECK(od[0] == 3.141592653589793);
  // integer files never decode into doubles and back
  CHECK(value_error([&] { io::idx_decode(io::idx_parse_header(s8.data(), s8.size()), s8.data(), s8.size(), od.data()); }) ==
        "<internal>");
  // empty arrays and trailing bytes
  Bytes empty = idx_file(0x08, {0, 28, 28}, {9, 9});
  io::IdxHeader he = io::idx_parse_header(empty.data(), empty.size());
  CHECK(he.numel == 0);
  CHECK_NOTHROW(io::idx_check_payload(he, empty.size()));
}

TEST_CASE("idx: damaged headers and payloads are value errors naming the problem", "[io][idx]") {
  auto header_error = [](Bytes b) { return value_error([&] { io::idx_parse_header(b.data(), b.size()); }); };
  CHECK(header_error({0, 0, 8}) == "it is too short to hold a header");
  CHECK(header_error({1, 2, 8, 1, 0, 0, 0, 1, 5}) == "wrong magic number");
  CHECK(header_error({0, 0, 8, 0}) == "implausible rank 0");
  CHECK(header_error({0, 0, 8, 9}) == "implausible rank 9");
  CHECK(header_error({0, 0, 8, 2, 0, 0, 0, 1, 0, 0}) == "truncated header");
  CHECK(header_error({0, 0, 8, 1, 0x80, 0, 0, 0}) == "dimension 1 is negative");
  CHECK(header_error({0, 0, 0x0A, 1, 0, 0, 0, 1}) == "unknown element type 0x0A");

  Bytes short_file = idx_file(0x08, {10, 28, 28}, Bytes(100, 1));
  io::IdxHeader h = io::idx_parse_header(short_file.data(), short_file.size());
  CHECK(value_error([&] { io::idx_check_payload(h, short_file.size()); }) ==
        "100 of 7840 elements present (truncated)");
  // the largest declarable file: the size saturates instead of overflowing, and the
  // truncation is reported before anything is allocated
  Bytes huge = idx_file(0x0E, std::vector<uint32_t>(8, 0x7FFFFFFF), {});
  io::IdxHeader hh = io::idx_parse_header(huge.data(), huge.size());
  CHECK(hh.numel == std::numeric_limits<uint64_t>::max());
  CHECK(hh.total_bytes() == std::numeric_limits<uint64_t>::max());
  CHECK(contains(value_error([&] { io::idx_check_payload(hh, huge.size()); }), "0 of 4.52313e+74 elements"));
  std::vector<double> none;
  CHECK(contains(value_error([&] { io::idx_decode(hh, huge.data(), huge.size(), none.data()); }), "truncated"));
  // a partial last element does not count
  Bytes part = idx_file(0x0C, {2}, {0, 0, 0, 1, 0, 0});
  CHECK(value_error([&] { io::idx_check_payload(io::idx_parse_header(part.data(), part.size()), part.size()); }) ==
        "1 of 2 elements present (truncated)");
}

TEST_CASE("safetensors: offsets, shapes and metadata are read and validated", "[io][safetensors]") {
  std::string hdr = "{\"__metadata__\":{\"format\":\"x\",\"k\":\"v\"},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[8,9]},"
                    "\"e\":{\"dtype\":\"I64\",\"shape\":[0,4000000000000],\"data_offsets\":[9,9]}}   ";
  std::string file = st_bytes(hdr, std::string(9, '\x01'));
  io::StFile f = io::parse_safetensors(u8(file), file.size());
  CHECK(f.has_metadata);
  REQUIRE(f.meta("k"));
  CHECK(*f.meta("k") == "v");
  CHECK(f.meta("nope") == nullptr);
  REQUIRE(f.tensors.size() == 3);
  CHECK(f.tensors[0].name == "a");
  CHECK(f.tensors[0].shape == std::vector<int64_t>{2, 1});
  CHECK(f.tensors[1].begin == 8);
  CHECK(f.tensors[1].end == 9);
  CHECK(f.data_start == 8 + hdr.size());
  CHECK(f.data_len == 9);

  auto err = [](const std::string& bytes) {
    return value_error([&] { io::parse_safetensors(u8(bytes), bytes.size()); });
  };
  auto entry = [&](const std::string& e, size_t data = 64) {
    return err(st_bytes("{\"t\":" + e + "}", std::string(data, '\0')));
  };
  CHECK(err("") == "The file is too short to be a symnet model (0 bytes).");
  CHECK(err(std::string(5, 'x')) == "The file is too short to be a symnet model (5 bytes).");
  // a header length near 2^64 must not wrap around in the comparison
  std::string wrap(8, '\xFF');
  CHECK(contains(err(wrap + "{}"), "The header length (18446744073709551615) does not fit the file (10 bytes)"));
  CHECK(contains(err(st_bytes("{}", "").substr(0, 9)), "does not fit the file"));
  CHECK(contains(err(st_bytes("[1]", "")), "The header is not a JSON object."));
  CHECK(contains(err(st_bytes("{\"a\":", "")), "The header is not a JSON object (malformed JSON"));
  CHECK(contains(err(st_bytes("{\"a\":{},\"a\":{}}", "")), "lists \"a\" twice"));
  CHECK(contains(err(st_bytes("{\"__metadata__\":{\"k\":1}}", "")), "Metadata entry \"k\" is not a string."));
  CHECK(contains(err(st_bytes("{\"__metadata__\":[]}", "")), "__metadata__ is not an object"));
  CHECK(contains(entry("1"), "Tensor \"t\" has an invalid entry in the header: not an object."));
  CHECK(contains(entry("{\"dtype\":\"F33\",\"shape\":[],\"data_offsets\":[0,4]}"), "unknown dtype"));
  CHECK(contains(entry("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), "not a non-negative integer"));
  CHECK(contains(entry("{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}"), "not a non-negative integer"));
  CHECK(contains(entry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}"), "invalid data_offsets"));
  CHECK(contains(entry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}"), "no data_offsets pair"));
  CHECK(contains(entry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,65]}"), "beyond the end of the file"));
  CHECK(contains(entry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,9223372036854775807]}"),
                 "beyond the end of the file"));
  CHECK(entry("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}") ==
        "Tensor \"t\" has 8 bytes, not the 12 its dtype and shape need.");
  // shapes whose size overflows 64 bits are rejected, not wrapped into a match
  CHECK(contains(entry("{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}"),
                 "has 0 bytes, not the 7.3787e+19"));
  CHECK(contains(entry("{\"dtype\":\"I64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}"),
                 "has 0 bytes, not the"));
}

TEST_CASE("graph JSON: variables without values may not allocate beyond the budget", "[io][json]") {
  std::string doc =
      "{\"format\": \"symnet-graph\", \"version\": 1, \"variables\": [{\"name\": \"w\", \"dtype\": \"float64\","
      " \"shape\": [1000000, 1000000]}], \"nodes\": [{\"id\": 0, \"op\": \"variable\", \"attrs\":"
      " {\"var\": {\"type\": \"variable\", \"value\": 0}}}], \"inputs\": [], \"outputs\": [[0, 0]]}";
  CHECK(contains(value_error([&] { graph_from_json(doc); }), "would take 8000000000000 bytes"));
  // within an explicit budget the same declaration of a small variable reads back
  std::string small = doc;
  small.replace(small.find("[1000000, 1000000]"), 18, "[1000, 1000]");
  CHECK(contains(value_error([&] { graph_from_json(small, nullptr, 7999999); }), "would take 8000000 bytes"));
  std::vector<VariablePtr> vars;
  graph_from_json(small, &vars, 8000000);
  REQUIRE(vars.size() == 1);
  CHECK(vars[0]->shape() == Shape{1000, 1000});
  // the default allowance: 64 bytes per byte of text
  std::string tiny = doc;
  tiny.replace(tiny.find("[1000000, 1000000]"), 18, "[2]");
  CHECK_NOTHROW(graph_from_json(tiny));
}

TEST_CASE("model file: the graph's variables are bound to the file's tensors", "[io][model]") {
  Value x = make_node("input", {}, {{"name", std::string("x")}, {"dtype", std::string("float32")},
                                    {"shape", std::vector<int64_t>{-1, 3}}}, "x").at(0);
  VariablePtr w = Variable::create("w", random_tensor(DType::f32, {3}, 5));
  VariablePtr c = Variable::create("count", make_tensor(DType::i32, {}, {7}));
  Value y = op::add(op::mul(x, op::variable(w)), op::cast(op::variable(c), DType::f32));
  Graph g = Graph::from_outputs({y}, {"y"});
  std::string gj = graph_to_json(g, false);
  auto model = [&](const std::string& wdesc, const std::string& data, const std::string& extra_meta = "") {
    std::string hdr = "{\"__metadata__\":{\"format\":\"symnet-model\",\"version\":\"1\",\"graph\":" + json_quote(gj) +
                      ",\"inputs\":\"[\\\"x\\\"]\",\"outputs\":\"[\\\"y\\\"]\"" + extra_meta + "}," + wdesc + "}";
    return st_bytes(hdr, data);
  };
  std::string good_desc = "\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                          "\"count\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[12,16]}";
  std::string data = bytes_of(w->host()) + bytes_of(c->host());
  std::string file = model(good_desc, data);
  io::ModelFile m = io::read_model_file(u8(file), file.size());
  REQUIRE(m.variables.size() == 2);
  for (const VariablePtr& v : m.variables) {
    const VariablePtr& orig = v->name == "w" ? w : c;
    CHECK(bytes_of(v->host()) == bytes_of(orig->host()));
  }
  CHECK(m.graph.output_names == std::vector<std::string>{"y"});

  auto err = [](const std::string& b) { return value_error([&] { io::read_model_file(u8(b), b.size()); }); };
  CHECK(contains(err(model("\"w\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,24]},"
                           "\"count\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[24,28]}",
                           std::string(28, '\0'))),
                 "Variable \"w\" is F64[3] in the data but F32[3] in the graph."));
  CHECK(contains(err(model("\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}", data)),
                 "no data for variable \"count\""));
  CHECK(contains(err(st_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd")),
                 "not a symnet model file"));
  // a graph whose variables need more bytes than the data buffer has is refused before
  // allocating them
  std::string big = gj;
  const std::string needle = "\"shape\": [3]";
  REQUIRE(big.find(needle) != std::string::npos);
  big.replace(big.find(needle), needle.size(), "\"shape\": [300000000000]");
  std::string hdr = "{\"__metadata__\":{\"format\":\"symnet-model\",\"version\":\"1\",\"graph\":" + json_quote(big) +
                    ",\"inputs\":\"[]\",\"outputs\":\"[]\"}}";
  std::string bigfile = st_bytes(hdr, std::string(16, '\0'));
  CHECK(contains(err(bigfile), "would take 1200000000000 bytes"));
  // every truncation and random damage: a value error or a model, never a crash
  for (size_t n = 0; n < file.size(); n += 3) {
    std::string e = err(file.substr(0, n));
    CHECK(!e.empty());
    CHECK(e[0] != '<');
  }
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string bad = file;
    for (int k = 0; k < 2; ++k) bad[rng() % bad.size()] = static_cast<char>(rng() % 256);
    std::string e = err(bad);
    CHECK((e.empty() || e[0] != '<'));
  }
}

// ---- regressions: inputs found by the fuzzers (tests/fuzz), minimised -------------------------

TEST_CASE("shape_numel reports overflow instead of wrapping", "[io][fuzz]") {
  const int64_t big = int64_t{1} << 40;
  CHECK(shape_numel({big, 1 << 20}) == int64_t{1} << 60);
  CHECK_THROWS_AS(shape_numel({big, big}), Error);
  try {
    shape_numel({big, big});
  } catch (const Error& err) {
    CHECK(err.kind() == ErrorKind::shape);
  }
  CHECK(shape_numel({big, big, 0}) == 0);
  CHECK(shape_numel({big, -1}) == -1);
}
