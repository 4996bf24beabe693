#!/usr/bin/env bash
# Sourced by start-cluster.sh and stop-cluster.sh: where things are, and the hosts of
# conf/workers. Sets bin_dir, home, conf_dir and workers_file.

bin_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
home=$(dirname "$bin_dir")
conf_dir=${STROM_CONF_DIR:-$home/conf}
workers_file="$conf_dir/workers"

# Whether a host of conf/workers is this one (then no ssh).
is_local() {
  [[ "$1" == localhost || "$1" == 127.0.0.1 || "$1" == "$(hostname)" ||
     "$1" == "$(hostname -f 2>/dev/null || hostname)" ]]
}

# Print the hosts of conf/workers, one per line: comments ('#' to the end of a line) and blank
# lines dropped, spaces trimmed.
worker_hosts() {
  local line host
  while read -r line || [[ -n "$line" ]]; do
    host=${line%%#*}
    host=$(echo "$host" | tr -d '[:space:]')
    [[ -n "$host" ]] && echo "$host"
  done <"$workers_file"
}
