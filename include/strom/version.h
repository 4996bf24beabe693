#pragma once

// The Strom release this header set belongs to. The root CMakeLists.txt checks that it equals
// project(Strom VERSION ...), so bump both together.

/// The Strom version as "major.minor.patch".
#define STROM_VERSION "0.1.0"
#define STROM_VERSION_MAJOR 0
#define STROM_VERSION_MINOR 1
#define STROM_VERSION_PATCH 0
