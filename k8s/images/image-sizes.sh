#!/usr/bin/env bash
# Measure the service images against their size budgets (`docker image ls` size, decimal MB)
# and write the table to FILE (and stdout) and between the README's `images:sizes` markers.
# Exits non-zero when an image is missing or over its budget.
#   k8s/images/image-sizes.sh [FILE]
set -euo pipefail
docker=${DOCKER:-/usr/bin/docker}
tag=${IMAGE_TAG:-dev}
out=${1:-/dev/null}
declare -A budget=([generator]=400 [scorer]=700 [streaming]=1400)

"$docker" info >/dev/null 2>&1 || { echo "image-sizes: the Docker engine does not answer" >&2; exit 1; }
status=0
table="| Image | Base image | Size (MB) | Budget (MB) | Within |
|---|---|---:|---:|---|"
for service in generator scorer streaming; do
  image="rtad-$service:$tag"
  if ! bytes=$("$docker" image inspect --format '{{.Size}}' "$image" 2>/dev/null); then
    echo "image-sizes: no image $image: run \`make images\` first" >&2; exit 1
  fi
  base=$("$docker" image inspect --format '{{index .Config.Labels "org.opencontainers.image.base.name"}}' "$image")
  mb=$((bytes / 1000000))
  ok=yes; [ "$mb" -le "${budget[$service]}" ] || { ok=NO; status=1; }
  table+=$'\n'"| \`$image\` | \`${base:-?}\` | $mb | ${budget[$service]} | $ok |"
done
{
  echo "# Image sizes"
  echo
  echo "Written by \`make image-sizes\` (k8s/images/image-sizes.sh) from \`docker image inspect\`;"
  echo "sizes are uncompressed, as \`docker image ls\` shows them. Rebuild with \`make images\`."
  echo
  echo "$table"
} | tee "$out"
readme=${README:-README.md}
if [ -f "$readme" ] && grep -q '<!-- images:sizes:start -->' "$readme"; then
  TABLE="$table" awk '
    /<!-- images:sizes:start -->/ { print; print ENVIRON["TABLE"]; skip = 1; next }
    /<!-- images:sizes:end -->/ { skip = 0 }
    !skip { print }' "$readme" > "$readme.tmp" && mv "$readme.tmp" "$readme"
fi
exit $status
