#!/usr/bin/env bash
# Build the three service images from the repo root, tagged rtad-<service>:<tag>.
#   k8s/images/build-images.sh [service ...]     (default: generator streaming scorer)
# Environment: BASE_IMAGE (default python:3.11-slim-bookworm), IMAGE_TAG (default dev),
# DOCKER (default /usr/bin/docker, the engine's own CLI: BuildKit's built-in frontend).
# Each build runs with --network host, so pip and uv reach the package index the way the
# host does (also where the engine has no bridge network).
set -euo pipefail
cd "$(dirname "$0")/../.."
docker=${DOCKER:-/usr/bin/docker}
base=${BASE_IMAGE:-python:3.11-slim-bookworm}
tag=${IMAGE_TAG:-dev}
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(generator streaming scorer)

fail() { echo "images: $*" >&2; exit 1; }
[ -x "$docker" ] || fail "no docker CLI at $docker: apt-get install -y docker.io (or set DOCKER=...)"
"$docker" info >/dev/null 2>&1 \
  || fail "the Docker engine does not answer: start it (dockerd, or systemctl start docker) and retry"
if ! "$docker" image inspect "$base" >/dev/null 2>&1; then
  "$docker" pull --quiet "$base" >/dev/null 2>&1 \
    || fail "cannot pull $base: run \`make base-image\` and then \`make images BASE_IMAGE=rtad-base:bookworm\`"
fi

logs=$(mktemp -d /tmp/rtad-images.XXXXXX)
for service in "${services[@]}"; do
  [ -f "services/$service/Dockerfile" ] || fail "no services/$service/Dockerfile"
  image="rtad-$service:$tag"
  start=$SECONDS
  if ! DOCKER_BUILDKIT=1 "$docker" build --network host --progress plain \
      --build-arg "BASE_IMAGE=$base" -f "services/$service/Dockerfile" -t "$image" . \
      >"$logs/$service.log" 2>&1; then
    tail -n 15 "$logs/$service.log" >&2
    fail "building $image failed (full log: $logs/$service.log)"
  fi
  size=$("$docker" image ls --format '{{.Size}}' "$image" | head -1)
  echo "built $image from $base in $((SECONDS - start)) s ($size)"
done
rm -rf "$logs"
