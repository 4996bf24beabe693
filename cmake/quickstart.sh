#!/usr/bin/env bash
# Strom quick start for a Debian 12 machine.
#
#   bash cmake/quickstart.sh deps   install the Debian packages Strom builds with (only the missing ones)
#   bash cmake/quickstart.sh demo   deps + Release build in build/ + run the word_count example job
#   bash cmake/quickstart.sh test   deps + Release build in build/ + run every test with ctest
#
# Installing packages needs root: run the script as root, or as a user who may use sudo.
# Environment: CCACHE_DIR (default ~/.cache/ccache), CCACHE_MAXSIZE (default 5G),
# STROM_JOBS (parallel build and test jobs, default 2).
set -euo pipefail

readonly PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libasio-dev libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  librocksdb-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev libxxhash-dev
  zlib1g-dev libssl-dev clang-format
)
readonly BUILD_DIR=build
readonly JOBS="${STROM_JOBS:-2}"

die() {
  echo "quickstart: error: $*" >&2
  exit 1
}

usage() {
  echo "usage: bash cmake/quickstart.sh {deps|demo|test}" >&2
  exit 2
}

# Install the packages that are not installed yet. Prints nothing and never calls apt when all
# of them are present.
install_deps() {
  local missing=() pkg status
  for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != *"ok installed"* ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi

  command -v apt-get >/dev/null 2>&1 ||
    die "apt-get not found; this script supports Debian 12. Install these packages by hand: ${missing[*]}"
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 ||
      die "missing packages (${missing[*]}) and not running as root, and sudo is not available; rerun as root"
    sudo=(sudo)
  fi

  echo "quickstart: installing ${#missing[@]} package(s): ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

setup_ccache() {
  export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}"
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
  mkdir -p "$CCACHE_DIR"
}

# Configure build/ as a Release build with tests on (same cache for demo and test, so switching
# between them does not reconfigure).
configure() {
  local args=(-S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSTROM_BUILD_TESTS=ON
              -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # The generator of an existing build tree cannot change; only a new one is made with Ninja.
  if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
    args+=(-G Ninja)
  fi
  echo "quickstart: configuring $BUILD_DIR/ (Release)"
  cmake "${args[@]}"
}

# Print the ten most frequent words of the word_count output (lines "word,count", one per update,
# so a word's final count is its largest), ties broken alphabetically.
print_top_words() {
  local output=$1
  local files=("$output")
  if [[ -d "$output" ]]; then
    mapfile -t files < <(find "$output" -type f | LC_ALL=C sort)
  fi
  echo
  echo "Top 10 words (word: final count):"
  LC_ALL=C awk '
    NF == 0 { next }
    {
      n = $NF + 0
      word = substr($0, 1, length($0) - length($NF) - 1)
      if (!(word in best) || n > best[word]) best[word] = n
    }
    END { for (word in best) printf "%d\t%s\n", best[word], word }
  ' FS=, "${files[@]}" |
    LC_ALL=C sort -t "$(printf '\t')" -k1,1nr -k2,2 |
    head -n 10 |
    awk -F '\t' '{ printf "  %-24s %d\n", $2, $1 }'
}

run_demo() {
  local input=examples/data/words.txt
  local output="$BUILD_DIR/word_count.out"
  echo "quickstart: building word_count"
  cmake --build "$BUILD_DIR" --target word_count -j "$JOBS"
  [[ -f "$input" ]] || die "demo input $input not found"
  rm -rf "$output"
  echo "quickstart: running $BUILD_DIR/examples/word_count --input $input --output $output"
  "$BUILD_DIR/examples/word_count" --input "$input" --output "$output"
  [[ -e "$output" ]] || die "word_count wrote no output to $output"
  print_top_words "$output"
}

run_tests() {
  echo "quickstart: building everything"
  cmake --build "$BUILD_DIR" -j "$JOBS"
  echo "quickstart: running tests (the 'slow' label is left out: ctest -L slow runs it)"
  local rc=0
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" -LE slow || rc=$?
  return "$rc"
}

main() {
  (($# == 1)) || usage
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  case "$1" in
    deps)
      install_deps
      ;;
    demo)
      install_deps
      setup_ccache
      configure
      run_demo
      ;;
    test)
      install_deps
      setup_ccache
      configure
      run_tests
      ;;
    *)
      usage
      ;;
  esac
}

main "$@"
