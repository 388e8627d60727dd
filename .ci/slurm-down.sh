#!/usr/bin/env bash
# Stop what .ci/slurm-up.sh started: slurmd, slurmctld and munged, each by the PID in its own pid file.
set -uo pipefail

stop_pid_file() {
  local file="$1"
  [ -s "$file" ] || return 0
  local pid
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}

stop_pid_file /run/slurmd.pid
stop_pid_file /run/slurmctld.pid
stop_pid_file /run/munge/munged.pid
exit 0
