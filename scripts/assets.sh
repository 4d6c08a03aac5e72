#!/usr/bin/env bash
# The scripts, styles, fonts and images that the maps load, and Swagger UI for the
# API's /docs, from the npm registry, pinned by package-lock.json, into var/assets
# (gitignored). The app serves them at /static (maps.offline.STATIC_DIR), so no page
# needs the internet. The list of files is maps.vendor.FILES; a missing one stops it.
# Idempotent: `npm ci` runs again only when package-lock.json changed, and the copy
# step rewrites nothing that is already up to date. Needs node/npm and .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

npm_dir=var/assets/npm
stamp=$npm_dir/.installed
want=$(sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1)

command -v npm >/dev/null || { echo "npm is needed (apt-get install nodejs npm)" >&2; exit 1; }
[ -x .venv/bin/python ] || { echo ".venv is needed first (scripts/setup.sh makes it)" >&2; exit 1; }

if [ ! -d "$npm_dir/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing map assets from the npm registry (package-lock.json)"
  mkdir -p "$npm_dir"
  cp package.json package-lock.json "$npm_dir/"
  (cd "$npm_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
.venv/bin/python -m maps.vendor "$npm_dir/node_modules"
