#!/usr/bin/env bash
# Stop a Strom cluster started with start-cluster.sh: the TaskManagers of conf/workers (over ssh
# for remote hosts), then the JobManager.
set -euo pipefail
# shellcheck source=strom-config.sh
source "$(dirname "${BASH_SOURCE[0]}")/strom-config.sh"

if [[ -f "$workers_file" ]]; then
  stopped_local=false
  for host in $(worker_hosts | sort -u); do
    if is_local "$host"; then
      if ! $stopped_local; then
        "$bin_dir/strom-daemon.sh" stop-all taskmanager
        stopped_local=true
      fi
    else
      # shellcheck disable=SC2029
      ssh -n "$host" "'$bin_dir/strom-daemon.sh' stop-all taskmanager"
    fi
  done
fi
"$bin_dir/strom-daemon.sh" stop-all jobmanager
