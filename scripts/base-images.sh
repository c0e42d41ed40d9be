#!/usr/bin/env bash
# Build the local base images that the extensions' Dockerfiles build on,
# without pulling anything from any image registry:
#
#   kamiwaza-base/python:bookworm  debootstrap (minbase + python3) -> docker import
#   redis:7-bookworm               FROM kamiwaza-base/python:bookworm + Debian's redis-server
#
# Idempotent: an image that is already present is skipped. FORCE=1 rebuilds.
#
# Usage: base-images.sh [--check]   (--check: exit 0 iff all images are present, build nothing)
#
# Environment:
#   FORCE=1             rebuild images even when present
#   DEBIAN_MIRROR=URL   Debian mirror (default: detected from /etc/apt, else deb.debian.org)
#   DEBIAN_SUITE=NAME   default bookworm
#   BASE_CACHE_DIR=DIR  where the debootstrap .deb tarball is cached
#                       (default /var/cache/kamiwaza-base; delete it to refresh packages)
#   DOCKER=CMD          docker CLI to use (default: docker on PATH)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FORCE="${FORCE:-0}"
SUITE="${DEBIAN_SUITE:-bookworm}"
CACHE_DIR="${BASE_CACHE_DIR:-/var/cache/kamiwaza-base}"
DOCKER="${DOCKER:-docker}"
# The builds below use the classic builder: neither docker CLI here has buildx.
export DOCKER_BUILDKIT=0

PYTHON_IMAGE="kamiwaza-base/python:${SUITE}"
REDIS_IMAGE="redis:7-${SUITE}"

log() { echo "base-images: $*"; }
die() { echo "base-images: ERROR: $*" >&2; exit 1; }

have_image() { $DOCKER image inspect "$1" >/dev/null 2>&1; }
image_size() { $DOCKER image inspect -f '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1/1000/1000}'; }

# First http(s) URI of a Debian archive (path ending in /debian) in the host's apt config.
detect_mirror() {
  local kind="$1" # debian | debian-security
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -E '^[[:space:]]*(URIs:|deb[[:space:]])' \
    | grep -oE 'https?://[^[:space:]]+' \
    | sed 's:/*$::' \
    | grep -E "/${kind}\$" \
    | head -n1 || true
}

MIRROR="${DEBIAN_MIRROR:-$(detect_mirror debian)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-$(detect_mirror debian-security)}"

OCI_LABELS=(
  "org.opencontainers.image.vendor=kamiwaza-extensions"
  "org.opencontainers.image.source=kamiwaza-extensions/images/base"
  "org.opencontainers.image.base.name=debian:${SUITE}"
)

# After a rebuild (FORCE=1), drop the previous image if nothing else uses it.
drop_old() {
  local old="$1" img="$2"
  [ -n "$old" ] || return 0
  [ "$old" = "$($DOCKER image inspect -f '{{.Id}}' "$img" 2>/dev/null)" ] && return 0
  $DOCKER image rm "$old" >/dev/null 2>&1 || true
}
image_id() { $DOCKER image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

build_python() {
  local img="$PYTHON_IMAGE"
  if [ "$FORCE" != 1 ] && have_image "$img"; then
    log "$img present ($(image_size "$img")) ... skipped"
    return
  fi
  command -v debootstrap >/dev/null || die "debootstrap not installed (run scripts/bootstrap.sh)"
  local t0=$SECONDS
  local include="python3,ca-certificates"
  local arch tarball
  arch="$(dpkg --print-architecture)"
  tarball="$CACHE_DIR/${SUITE}-minbase-${include//,/+}-${arch}.tgz"
  mkdir -p "$CACHE_DIR"

  local rootfs
  rootfs="$(mktemp -d /var/tmp/kamiwaza-rootfs.XXXXXX)"
  # shellcheck disable=SC2064
  trap "rm -rf '$rootfs'" EXIT

  if [ ! -s "$tarball" ]; then
    log "downloading ${SUITE} minbase+python3 .debs from $MIRROR"
    local dl
    dl="$(mktemp -d /var/tmp/kamiwaza-debs.XXXXXX)"
    if ! debootstrap --variant=minbase --include="$include" --make-tarball="$tarball.tmp" \
        "$SUITE" "$dl" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1; then
      rm -rf "$dl" "$tarball.tmp"
      tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
      die "debootstrap --make-tarball failed (log: $CACHE_DIR/debootstrap.log)"
    fi
    rm -rf "$dl"
    mv "$tarball.tmp" "$tarball"
  fi

  log "debootstrap ${SUITE} (minbase,$include) into $rootfs"
  if ! debootstrap --variant=minbase --include="$include" --unpack-tarball="$tarball" \
      "$SUITE" "$rootfs" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1; then
    tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
    die "debootstrap failed (log: $CACHE_DIR/debootstrap.log; remove $tarball to re-download)"
  fi

  # --- configure the rootfs as a container base -----------------------------------
  # apt sources (plain HTTP mirrors reachable from containers)
  rm -f "$rootfs/etc/apt/sources.list"
  {
    echo "Types: deb"
    echo "URIs: $MIRROR"
    echo "Suites: $SUITE ${SUITE}-updates"
    echo "Components: main"
    echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    if [ -n "$SECURITY_MIRROR" ]; then
      echo
      echo "Types: deb"
      echo "URIs: $SECURITY_MIRROR"
      echo "Suites: ${SUITE}-security"
      echo "Components: main"
      echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    fi
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"

  # keep later apt installs (in derived images) small, like the official slim images
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/excludes" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  # never start services during `apt-get install` in a build
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"

  # --- strip -------------------------------------------------------------------------
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
         "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/archives/partial/* \
         "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old \
         "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
         "$rootfs"/usr/share/lintian "$rootfs"/usr/share/linda \
         "$rootfs"/tmp/* "$rootfs"/var/tmp/* "$rootfs"/root/.cache
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  find "$rootfs/var/log" -type f -exec truncate -s 0 {} + 2>/dev/null || true
  : >"$rootfs/etc/machine-id"
  rm -f "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf" "$rootfs/etc/hosts"

  # --- import ------------------------------------------------------------------------
  local created changes=() old_id
  old_id="$(image_id "$img")"
  created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  changes+=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
  changes+=(--change 'ENV LANG=C.UTF-8')
  changes+=(--change 'ENV PYTHONUNBUFFERED=1')
  changes+=(--change 'CMD ["python3"]')
  local l
  for l in "${OCI_LABELS[@]}" \
      "org.opencontainers.image.title=kamiwaza-base/python" \
      "org.opencontainers.image.description=Debian ${SUITE} minbase with python3 (debootstrap, local)" \
      "org.opencontainers.image.created=${created}"; do
    changes+=(--change "LABEL ${l%%=*}=\"${l#*=}\"")
  done
  log "importing $img"
  tar --numeric-owner --xattrs -C "$rootfs" -c . \
    | $DOCKER import "${changes[@]}" --message "debootstrap ${SUITE} minbase python3" - "$img" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  drop_old "$old_id" "$img"
  log "built $img ($(image_size "$img")) in $((SECONDS - t0))s"
}

build_redis() {
  local img="$REDIS_IMAGE"
  if [ "$FORCE" != 1 ] && have_image "$img"; then
    log "$img present ($(image_size "$img")) ... skipped"
    return
  fi
  have_image "$PYTHON_IMAGE" || die "$PYTHON_IMAGE missing"
  local t0=$SECONDS ctx="$ROOT/images/base/redis"
  [ -f "$ctx/Dockerfile" ] || die "$ctx/Dockerfile missing"
  local args=(--build-arg "BASE_IMAGE=$PYTHON_IMAGE" --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
  local l
  for l in "${OCI_LABELS[@]}"; do args+=(--label "$l"); done
  args+=(--label "org.opencontainers.image.source=kamiwaza-extensions/images/base/redis")
  args+=(--label "org.opencontainers.image.title=redis")
  args+=(--label "org.opencontainers.image.version=7-${SUITE}")
  args+=(--label "org.opencontainers.image.description=Debian ${SUITE} redis-server on ${PYTHON_IMAGE} (local stand-in for redis:7-${SUITE})")
  log "building $img from $ctx"
  local buildlog old_id
  old_id="$(image_id "$img")"
  buildlog="$(mktemp /var/tmp/kamiwaza-redis-build.XXXXXX.log)"
  if ! $DOCKER build --pull=false --force-rm "${args[@]}" -t "$img" "$ctx" >"$buildlog" 2>&1; then
    tail -n 40 "$buildlog" >&2
    die "docker build of $img failed (log: $buildlog)"
  fi
  rm -f "$buildlog"
  drop_old "$old_id" "$img"
  log "built $img ($(image_size "$img")) in $((SECONDS - t0))s"
}

if [ "${1:-}" = --check ]; then
  have_image "$PYTHON_IMAGE" && have_image "$REDIS_IMAGE"
  exit
fi

$DOCKER info >/dev/null 2>&1 || die "docker engine not reachable (run scripts/bootstrap.sh)"
build_python
build_redis
log "images: $PYTHON_IMAGE $(image_size "$PYTHON_IMAGE"), $REDIS_IMAGE $(image_size "$REDIS_IMAGE")"
