#!/usr/bin/env bash
# Build the images' base from Debian packages, for a machine that cannot pull
# python:3.11-slim-bookworm (air-gapped, or a TLS-intercepting proxy in front of the registry).
#   k8s/images/base-image.sh [TAG]      (default rtad-base:bookworm; root, debootstrap, docker)
# The result holds Python 3.11 with venv, ca-certificates, and the build host's CA bundle, so
# pip and uv inside `docker build --network host` reach the package index through the same
# proxy the host trusts.
set -euo pipefail
tag=${1:-rtad-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
docker=${DOCKER:-/usr/bin/docker}
host_bundle=/etc/ssl/certs/ca-certificates.crt

fail() { echo "base-image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "debootstrap needs root: run it as root (sudo make base-image)"
command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install -y debootstrap"
"$docker" info >/dev/null 2>&1 || fail "no Docker engine answers at $docker: start dockerd (or install docker.io)"

root=$(mktemp -d /var/tmp/rtad-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm into $root (minbase, python3.11) from $mirror"
debootstrap --variant=minbase --include=python3.11,python3.11-venv,python3-venv,ca-certificates \
  bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -5 "$root.log" >&2; fail "debootstrap failed (log above, full log $root.log)"; }
rm -f "$root.log"

# The host's bundle joins the image's own, so the image trusts what the host trusts.
if [ -s "$host_bundle" ]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp "$host_bundle" "$root/usr/local/share/ca-certificates/build-host.crt"
  chroot "$root" update-ca-certificates >/dev/null 2>&1 || cp "$host_bundle" "$root$host_bundle"
fi
# Same layout as the official image where the Dockerfiles care: `python` and `python3` on PATH,
# apt lists and caches empty.
ln -sf /usr/bin/python3.11 "$root/usr/local/bin/python"
ln -sf /usr/bin/python3.11 "$root/usr/local/bin/python3"
# Documentation, manuals and translations stay out, now and for every package installed later.
cat >"$root/etc/dpkg/dpkg.cfg.d/rtad-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
# apt keeps no package cache in image layers (the official Debian images do the same).
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb

tar -C "$root" -c . | "$docker" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$tag" >/dev/null
echo "built $tag ($("$docker" image ls --format '{{.Size}}' "$tag"))"
