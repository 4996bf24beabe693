#pragma once

// Reading golden files: the decompressed lines of a .gz file (link ZLIB::ZLIB).

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <utility>
#include <vector>

namespace strom::testutil {

/// Return the lines of the gzip file `path`, each with its "\n" (the last may lack one); a
/// test failure if it cannot be opened.
inline std::vector<std::string> readGzipLines(const std::string& path) {
  std::vector<std::string> lines;
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    ADD_FAILURE() << "cannot open " << path;
    return lines;
  }
  std::vector<char> buffer(1 << 20);
  std::string line;
  while (gzgets(file, buffer.data(), static_cast<int>(buffer.size())) != nullptr) {
    line += buffer.data();
    if (!line.empty() && line.back() == '\n') {
      lines.push_back(std::move(line));
      line.clear();
    }
  }
  if (!line.empty()) lines.push_back(std::move(line));
  gzclose(file);
  return lines;
}

}  // namespace strom::testutil
