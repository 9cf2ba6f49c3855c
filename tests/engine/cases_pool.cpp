// Placeholder until this family's cases land.
#include "harness.h"

namespace symnet::test {

void add_pool_cases(std::vector<OpCase>&) {}

}  // namespace symnet::test
