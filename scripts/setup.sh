#!/usr/bin/env bash
# One-command set-up on a fresh Debian/Ubuntu machine (as root or with sudo):
# system packages, the virtualenv, the PostgreSQL server (project-owned unless
# DATABASE_URL is set), the database with PostGIS, migrations, the sample layout.
# Every step checks first, so a second run is quick and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@";
  elif command -v sudo >/dev/null; then sudo "$@";
  else echo "need root or sudo to run: $*" >&2; exit 1; fi
}

# 1. System packages.
packages=(python3 python3-venv make)
if [ -z "${DATABASE_URL:-}" ]; then
  packages+=(postgresql-15 postgresql-15-postgis-3 postgresql-contrib)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. The virtualenv, reinstalled when pyproject.toml changes.
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=$candidate; break
  fi
done
[ -n "$python" ] || { echo "Python 3.11 or newer is needed" >&2; exit 1; }
stamp=.venv/.installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the project into .venv"
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

# 3. Database server, database, schema, sample layout.
.venv/bin/grid db start
.venv/bin/grid db init
.venv/bin/grid sample load
