// strom-nexmark: the Nexmark benchmark harness (see harness.h and docs/nexmark.md).

#include "bench/nexmark/harness.h"

int main(int argc, char** argv) { return strom::nexmark::nexmarkMain(argc, argv); }
