#!/usr/bin/env bash
# Inside each built image, as its own non-root user on a read-only root: import the service's
# entry points and check the other services' libraries absent (the same script and sets as
# tests/integration/dependency_sets), then print `rtad --version` through tini.
#   k8s/images/check-images.sh [service ...]     (default: generator streaming scorer)
set -euo pipefail
cd "$(dirname "$0")/../.."
docker=${DOCKER:-/usr/bin/docker}
tag=${IMAGE_TAG:-dev}
checker=tests/integration/dependency_sets/import_closure.py
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(generator streaming scorer)

"$docker" info >/dev/null 2>&1 || { echo "image-check: the Docker engine does not answer" >&2; exit 1; }
status=0
for service in "${services[@]}"; do
  image="rtad-$service:$tag"
  "$docker" image inspect "$image" >/dev/null 2>&1 \
    || { echo "image-check: no image $image: run \`make images\` first" >&2; exit 1; }
  run=("$docker" run --rm --network none --read-only --tmpfs /tmp --cap-drop ALL)
  if "${run[@]}" -i --entrypoint python "$image" - "$service" <"$checker" \
      && version=$("${run[@]}" "$image" --version); then
    echo "$image: entry points import within its set; $version"
  else
    echo "image-check: $image failed the import check (lines above)" >&2
    status=1
  fi
done
exit $status
