#!/usr/bin/env bash
# Start or stop a Docker engine for CI on a machine without systemd.
#   .ci/dockerd.sh start   start dockerd in the background (no bridge, no iptables: every
#                          container uses --network host or a shared namespace) and wait for it
#   .ci/dockerd.sh stop    stop the engine this script started; one it did not start stays up
# Idempotent: `start` with an engine already answering does nothing.
set -euo pipefail
docker=${DOCKER:-/usr/bin/docker}
state=${RTAD_DOCKERD_STATE:-/tmp/rtad-dockerd}
pidfile=$state/dockerd.pid

answering() { "$docker" info >/dev/null 2>&1; }

start() {
  if answering; then echo "dockerd: an engine already answers"; return 0; fi
  command -v dockerd >/dev/null || { echo "dockerd: missing: apt-get install -y docker.io" >&2; exit 1; }
  [ "$(id -u)" = 0 ] || { echo "dockerd: needs root (run .ci/run as root)" >&2; exit 1; }
  mkdir -p "$state"
  nohup dockerd --bridge=none --iptables=false >"$state/dockerd.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 60); do
    if answering; then echo "dockerd: started (log $state/dockerd.log)"; return 0; fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 1
  done
  tail -n 5 "$state/dockerd.log" >&2
  echo "dockerd: did not answer within 60 s (log $state/dockerd.log)" >&2
  exit 1
}

stop() {
  [ -f "$pidfile" ] || { echo "dockerd: not started by this script, left running"; return 0; }
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
  rm -f "$pidfile"
  echo "dockerd: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: .ci/dockerd.sh start|stop" >&2; exit 2 ;;
esac
