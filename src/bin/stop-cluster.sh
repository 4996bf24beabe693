#!/usr/bin/env bash
# Stop a Strom cluster started with start-cluster.sh: the TaskManagers of conf/workers (over ssh
# for remote hosts), then the JobManager.
set -euo pipefail

bin_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
home=$(dirname "$bin_dir")
conf_dir=${STROM_CONF_DIR:-$home/conf}
workers_file="$conf_dir/workers"

is_local() {
  [[ "$1" == localhost || "$1" == 127.0.0.1 || "$1" == "$(hostname)" ||
     "$1" == "$(hostname -f 2>/dev/null || hostname)" ]]
}

stopped_local=false
if [[ -f "$workers_file" ]]; then
  while read -r line || [[ -n "$line" ]]; do
    host=${line%%#*}
    host=$(echo "$host" | tr -d '[:space:]')
    [[ -n "$host" ]] || continue
    if is_local "$host"; then
      if ! $stopped_local; then
        "$bin_dir/strom-daemon.sh" stop-all taskmanager
        stopped_local=true
      fi
    else
      # shellcheck disable=SC2029
      ssh -n "$host" "'$bin_dir/strom-daemon.sh' stop-all taskmanager"
    fi
  done <"$workers_file"
fi
"$bin_dir/strom-daemon.sh" stop-all jobmanager
