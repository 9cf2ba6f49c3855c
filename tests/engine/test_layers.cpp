// The engine's folders form layers: a file may include headers of its own folder and of
// the folders below it, never above. This keeps the IR free of execution, lets a backend
// be built apart from the passes, and keeps kernels reusable by any backend.
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "harness.h"

using namespace symnet;
using namespace symnet::test;

namespace fs = std::filesystem;

namespace {

// Lowest first. math is a leaf beside base (functors, geometry structs, shared enums).
const std::map<std::string, int> kLayer = {
    {"base", 0}, {"math", 0}, {"ir", 1}, {"ops", 2}, {"passes", 3}, {"backend", 4},
    {"kernels", 5}, {"cpu", 6}, {"exec", 7}, {"io", 7}, {"dist", 1},
};

struct Include {
  std::string file, header;
};

std::vector<Include> engine_includes() {
  std::vector<Include> out;
  const std::regex inc("^\\s*#\\s*include\\s+\"engine/([^\"]+)\"");
  for (const auto& e : fs::recursive_directory_iterator(SYMNET_ENGINE_DIR)) {
    if (!e.is_regular_file()) continue;
    const std::string ext = e.path().extension().string();
    if (ext != ".h" && ext != ".cpp") continue;
    std::ifstream in(e.path());
    std::string line;
    const std::string rel = fs::relative(e.path(), SYMNET_ENGINE_DIR).generic_string();
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_search(line, m, inc)) out.push_back({rel, m[1].str()});
    }
  }
  return out;
}

std::string folder_of(const std::string& path) { return path.substr(0, path.find('/')); }

}  // namespace

TEST_CASE("engine folders include only their own layer and the layers below", "[layers]") {
  std::vector<Include> incs = engine_includes();
  REQUIRE(incs.size() > 100);  // the sources were found
  std::set<std::string> folders;
  for (const Include& i : incs) {
    const std::string from = folder_of(i.file), to = folder_of(i.header);
    folders.insert(from);
    INFO(i.file << " includes engine/" << i.header);
    REQUIRE(kLayer.count(from) == 1);  // a new folder must be given its layer here
    REQUIRE(kLayer.count(to) == 1);
    CHECK(kLayer.at(to) <= kLayer.at(from));
    // Kernels see tensor views and plain parameters only: from the backend layer just
    // the kernel interface, nothing of the IR, ops or registries.
    if (from == "kernels" && to == "backend") CHECK(i.header == "backend/kernel.h");
    if (from == "backend" && i.file != "backend/kernel.h") CHECK(to != "kernels");
    if (i.file == "backend/kernel.h") CHECK(to == "base");
  }
  CHECK(folders.count("ir") == 1);
  CHECK(folders.count("kernels") == 1);
}
