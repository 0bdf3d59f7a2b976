#!/usr/bin/env bash
# Start or stop the Docker engine for CI: `start` runs dockerd in the background (no bridge,
# no iptables) unless an engine already answers, and waits for `docker info`; `stop` stops
# only the dockerd that `start` launched.
set -euo pipefail
DOCKER=/usr/bin/docker
PIDFILE=${RTAD_DOCKERD_PIDFILE:-/tmp/rtad-dockerd.pid}
LOG=${RTAD_DOCKERD_LOG:-/tmp/rtad-dockerd.log}

case "${1:-}" in
  start)
    if "$DOCKER" info >/dev/null 2>&1; then echo "dockerd already running"; exit 0; fi
    dockerd --bridge=none --iptables=false >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 60); do
      "$DOCKER" info >/dev/null 2>&1 && { echo "dockerd started (pid $(cat "$PIDFILE"))"; exit 0; }
      sleep 1
    done
    echo "dockerd did not answer within 60 s; its log:" >&2; tail -20 "$LOG" >&2; exit 1
    ;;
  stop)
    [ -f "$PIDFILE" ] || exit 0
    pid=$(cat "$PIDFILE"); rm -f "$PIDFILE"
    kill "$pid" 2>/dev/null || exit 0
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
