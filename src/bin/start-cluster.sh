#!/usr/bin/env bash
# Start a Strom cluster (Flink's start-cluster.sh): the JobManager on this host, then one
# TaskManager per line of conf/workers: started directly for localhost / 127.0.0.1 / this host's
# name, and over ssh for any other host, where Strom must be installed at the same path.
# Lines of conf/workers are host names; '#' starts a comment. Options after the script's name
# (such as -D key=value) are passed to every daemon.
set -euo pipefail

bin_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
home=$(dirname "$bin_dir")
conf_dir=${STROM_CONF_DIR:-$home/conf}
workers_file="$conf_dir/workers"

is_local() {
  [[ "$1" == localhost || "$1" == 127.0.0.1 || "$1" == "$(hostname)" ||
     "$1" == "$(hostname -f 2>/dev/null || hostname)" ]]
}

"$bin_dir/strom-daemon.sh" start jobmanager "$@"

[[ -f "$workers_file" ]] || { echo "start-cluster.sh: $workers_file not found" >&2; exit 1; }
while read -r line || [[ -n "$line" ]]; do
  host=${line%%#*}
  host=$(echo "$host" | tr -d '[:space:]')
  [[ -n "$host" ]] || continue
  if is_local "$host"; then
    "$bin_dir/strom-daemon.sh" start taskmanager "$@"
  else
    # shellcheck disable=SC2029 # expanded here on purpose: the same paths on every host
    ssh -n "$host" "STROM_CONF_DIR='$conf_dir' '$bin_dir/strom-daemon.sh' start taskmanager $*"
  fi
done <"$workers_file"
