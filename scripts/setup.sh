#!/usr/bin/env bash
# One-command set-up on a fresh Debian/Ubuntu machine (as root or with sudo):
# system packages (the distribution's PostgreSQL, 15 to 17, with its PostGIS 3),
# the virtualenv from the lock file, the PostgreSQL server (project-owned unless
# DATABASE_URL is set) with its two roles and their passwords, the database with
# PostGIS, migrations and the application role's rights, the sample layout.
# Every step checks first, so a second run is quick and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@";
  elif command -v sudo >/dev/null; then sudo "$@";
  else die "need root or sudo to run: $*"; fi
}

apt_updated=""
apt_update() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -q; apt_updated=1; fi
}

# The PostgreSQL major to use: an existing cluster's own (it runs only under
# its major), else one installed with PostGIS 3, else the distribution's
# default (what the `postgresql` package depends on).
pg_data=${CG_PG_DATA:-var/pgdata}
pg_major() {
  if [ -f "$pg_data/PG_VERSION" ]; then cat "$pg_data/PG_VERSION"; return; fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/[0-9]*/ 2>/dev/null | sort -t/ -k4,4nr); do
    if [ -x "$dir/bin/pg_ctl" ] && compgen -G "$dir/lib/postgis-3*.so" >/dev/null; then
      basename "$dir"; return
    fi
  done
  apt-cache depends postgresql 2>/dev/null |
    sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n1
}

# 1. System packages.
packages=(python3 python3-venv make ca-certificates)
# The maps' scripts and fonts come from the npm registry (scripts/assets.sh);
# the browser tests drive Debian's Chromium; CJK glyphs for its screenshots.
packages+=(chromium fonts-wqy-microhei)
command -v npm >/dev/null || packages+=(nodejs npm)
if [ -z "${DATABASE_URL:-}" ]; then
  major=$(pg_major)
  if [ -z "$major" ]; then apt_update; major=$(pg_major); fi
  [ -n "$major" ] || die "cannot tell which PostgreSQL this distribution ships (apt-cache depends postgresql)"
  case "$major" in
    15|16|17) ;;
    *) say "PostgreSQL $major is untested here (15, 16 and 17 are); trying it" ;;
  esac
  packages+=("postgresql-$major" "postgresql-$major-postgis-3")
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  apt_update
  for p in "${missing[@]}"; do
    apt-cache show "$p" >/dev/null 2>&1 || die "package $p is not available from apt on this machine"
  done
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. The virtualenv, installed from requirements.lock (every package pinned,
#    with hashes) and made afresh when the lock, pyproject.toml or Python change.
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=$candidate; break
  fi
done
[ -n "$python" ] || die "Python 3.11 or newer is needed"
stamp=.venv/.installed
want=$( { cat requirements.lock pyproject.toml; "$python" --version; } | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the project into .venv from requirements.lock ($("$python" --version))"
  "$python" -m venv --clear .venv
  .venv/bin/pip install -q --require-hashes -r requirements.lock
  .venv/bin/pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi

# 3. The maps' offline assets (pinned by package-lock.json) into var/assets.
bash scripts/assets.sh

# 4. Database server (roles, passwords in var/secrets.env), database, schema,
#    rights, sample layout.
.venv/bin/grid db start
.venv/bin/grid db init
.venv/bin/grid sample load
