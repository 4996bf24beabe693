#!/usr/bin/env bash
# Start or stop one Strom daemon on this host, in the background (Flink's flink-daemon.sh).
#
#   strom-daemon.sh start (jobmanager|taskmanager) [daemon options...]
#   strom-daemon.sh stop (jobmanager|taskmanager)        stop the one started last
#   strom-daemon.sh stop-all (jobmanager|taskmanager)    stop every one started here
#
# Environment: STROM_CONF_DIR (default: <home>/conf), STROM_LOG_DIR (default: <home>/log),
# STROM_PID_DIR (default: /tmp), where <home> is the directory above this script's.
# The daemon's standard error (its log) goes to
# $STROM_LOG_DIR/strom-$USER-<daemon>-<n>-<host>.log; its pid is appended to
# $STROM_PID_DIR/strom-$USER-<daemon>.pid.
set -euo pipefail

usage() {
  echo "usage: strom-daemon.sh (start|stop|stop-all) (jobmanager|taskmanager) [options...]" >&2
  exit 2
}
(($# >= 2)) || usage
action=$1
daemon=$2
shift 2
case "$daemon" in
  jobmanager | taskmanager) ;;
  *) echo "strom-daemon.sh: unknown daemon '$daemon' (jobmanager or taskmanager)" >&2; exit 2 ;;
esac

bin_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
home=$(dirname "$bin_dir")
conf_dir=${STROM_CONF_DIR:-$home/conf}
log_dir=${STROM_LOG_DIR:-$home/log}
pid_dir=${STROM_PID_DIR:-/tmp}
user=${USER:-$(id -un)}
pid_file="$pid_dir/strom-$user-$daemon.pid"
binary="$bin_dir/strom-$daemon"

# A pid is ours if it is alive and runs the daemon's binary.
is_running() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null && grep -q "strom-$daemon" "/proc/$pid/cmdline" 2>/dev/null
}

stop_pid() {
  local pid=$1
  if is_running "$pid"; then
    echo "stopping $daemon (pid $pid)"
    kill "$pid"
    # Wait for a clean exit, bounded; then kill.
    for _ in $(seq 1 100); do
      is_running "$pid" || return 0
      sleep 0.1
    done
    echo "$daemon (pid $pid) did not stop within 10 s; killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
  else
    echo "no $daemon with pid $pid is running"
  fi
}

case "$action" in
  start)
    [[ -x "$binary" ]] || { echo "strom-daemon.sh: $binary not found" >&2; exit 1; }
    mkdir -p "$log_dir" "$pid_dir"
    # Number the instances of this daemon on this host, for distinct log files.
    n=0
    if [[ -f "$pid_file" ]]; then
      n=$(wc -l <"$pid_file")
    fi
    log="$log_dir/strom-$user-$daemon-$n-$(hostname).log"
    nohup "$binary" --config-dir "$conf_dir" "$@" >"$log.out" 2>"$log" </dev/null &
    pid=$!
    echo "$pid" >>"$pid_file"
    echo "started $daemon (pid $pid) on $(hostname), log $log"
    ;;
  stop)
    [[ -s "$pid_file" ]] || { echo "no $daemon to stop (no $pid_file)"; exit 0; }
    pid=$(tail -n 1 "$pid_file")
    stop_pid "$pid"
    sed -i '$d' "$pid_file"
    [[ -s "$pid_file" ]] || rm -f "$pid_file"
    ;;
  stop-all)
    [[ -s "$pid_file" ]] || { echo "no $daemon to stop (no $pid_file)"; exit 0; }
    while read -r pid; do
      stop_pid "$pid"
    done <"$pid_file"
    rm -f "$pid_file"
    ;;
  *) usage ;;
esac
