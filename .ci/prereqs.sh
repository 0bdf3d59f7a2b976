#!/usr/bin/env bash
# Install what rtad needs outside Python, when missing: Java 17 (Spark) and redis-server.
# Uses apt-get (Debian/Ubuntu) as root or through sudo; otherwise names the exact command.
set -euo pipefail

need=()
java_major() { java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then need+=(openjdk-17-jre-headless); fi
command -v redis-server >/dev/null || need+=(redis-server)
if [ "${RTAD_WITH_E2E_TOOLS:-0}" = 1 ]; then
  command -v promtool >/dev/null || need+=(prometheus)
  command -v chromium >/dev/null || need+=(chromium)
fi
if [ "${RTAD_WITH_CONTAINERS:-0}" = 1 ]; then
  [ -x /usr/bin/docker ] || need+=(docker.io)
  command -v debootstrap >/dev/null || need+=(debootstrap)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "missing: ${need[*]} — install them with: sudo apt-get install -y ${need[*]}" >&2; exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "missing: ${need[*]} — install Java 17 and redis-server with your package manager" >&2; exit 1
fi
echo "installing ${need[*]} with apt-get"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a redis-server on 6379; rtad starts its own on free ports.
