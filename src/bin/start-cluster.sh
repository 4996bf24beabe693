#!/usr/bin/env bash
# Start a Strom cluster (Flink's start-cluster.sh): the JobManager on this host, then one
# TaskManager per line of conf/workers: started directly for localhost / 127.0.0.1 / this host's
# name, and over ssh for any other host, where Strom must be installed at the same path.
# Lines of conf/workers are host names; '#' starts a comment. Options after the script's name
# (such as -D key=value) are passed to every daemon.
set -euo pipefail
# shellcheck source=strom-config.sh
source "$(dirname "${BASH_SOURCE[0]}")/strom-config.sh"

"$bin_dir/strom-daemon.sh" start jobmanager "$@"

[[ -f "$workers_file" ]] || { echo "start-cluster.sh: $workers_file not found" >&2; exit 1; }
for host in $(worker_hosts); do
  if is_local "$host"; then
    "$bin_dir/strom-daemon.sh" start taskmanager "$@"
  else
    # shellcheck disable=SC2029 # expanded here on purpose: the same paths on every host
    ssh -n "$host" "STROM_CONF_DIR='$conf_dir' '$bin_dir/strom-daemon.sh' start taskmanager $*"
  fi
done
