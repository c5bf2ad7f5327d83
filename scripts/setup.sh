#!/usr/bin/env bash
# Idempotent set-up: .venv (+ requirements, re-installed only when a file changed) and bun in .tools/.
# Usage: scripts/setup.sh [requirements files...]   (default: requirements.txt)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$IMAGECHAT_ROOT"

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[setup]\033[0m %s\n' "$*" >&2; exit 1; }

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(requirements.txt)

# --- Python virtualenv -------------------------------------------------------------------------
PYTHON="${PYTHON:-python3.11}"
if [ ! -x "$IMAGECHAT_VENV/bin/python" ]; then
  command -v "$PYTHON" >/dev/null || PYTHON=python3
  command -v "$PYTHON" >/dev/null || die "Python 3.11 is missing: apt-get install python3.11 python3.11-venv"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' \
    || die "$PYTHON is older than 3.11: install python3.11 (apt-get install python3.11 python3.11-venv)"
  say "creating $IMAGECHAT_VENV with $PYTHON"
  "$PYTHON" -m venv "$IMAGECHAT_VENV" \
    || die "python venv failed: apt-get install python3.11-venv"
fi

# One stamp per requirements file; `-r` includes count too (requirements-dev.txt includes requirements.txt).
stamp_of() {
  local f="$1" deps
  deps=$(sed -n 's/^-r[[:space:]]*//p' "$f")
  (cat "$f"; for d in $deps; do cat "$(dirname "$f")/$d"; done) | sha256sum | cut -d' ' -f1
}
for f in "${files[@]}"; do
  [ -f "$f" ] || die "missing $f"
  stamp="$IMAGECHAT_VENV/.stamp-$(basename "$f")"
  want=$(stamp_of "$f")
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    say "pip install -r $f"
    t0=$(date +%s)
    # (the filter drops pip's noise about find-links folders configured on some machines)
    "$IMAGECHAT_VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$f" \
      2> >(grep -v "^WARNING: Location 'file://" >&2)
    echo "$want" > "$stamp"
    say "installed $f in $(( $(date +%s) - t0 )) s"
  fi
done

# The project itself, editable (imagechat + workers importable from anywhere, no sys.path tricks).
# Its metadata reads the requirements files (pyproject.toml: dynamic dependencies), so they count too.
stamp="$IMAGECHAT_VENV/.stamp-pyproject.toml"
want=$(cat pyproject.toml requirements.txt requirements-sd.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  say "pip install --no-deps -e ."
  "$IMAGECHAT_VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps -e . \
    2> >(grep -v "^WARNING: Location 'file://" >&2)
  rm -rf build  # setuptools' scratch folder; the egg-info folder stays (git ignores it)
  echo "$want" > "$stamp"
fi

# --- bun from the npm registry -----------------------------------------------------------------
if [ "$("$REFLEX_BUN_PATH" --version 2>/dev/null || true)" != "$IMAGECHAT_BUN_VERSION" ]; then
  command -v npm >/dev/null || die "npm is missing (needed once to fetch bun): apt-get install nodejs npm"
  say "npm install --prefix .tools bun@$IMAGECHAT_BUN_VERSION"
  mkdir -p "$IMAGECHAT_TOOLS"
  npm install --prefix "$IMAGECHAT_TOOLS" --no-audit --no-fund --loglevel=error "bun@$IMAGECHAT_BUN_VERSION" >&2
  [ "$("$REFLEX_BUN_PATH" --version 2>/dev/null || true)" = "$IMAGECHAT_BUN_VERSION" ] \
    || die "bun $IMAGECHAT_BUN_VERSION did not install into .tools (npm install --prefix .tools bun@$IMAGECHAT_BUN_VERSION)"
fi

# --- axe-core from the npm registry (the e2e accessibility check injects it into the page) -------
AXE_VERSION="4.14.1"
axe_pkg="$IMAGECHAT_TOOLS/node_modules/axe-core/package.json"
if [ "$(node -p "require('$axe_pkg').version" 2>/dev/null || true)" != "$AXE_VERSION" ]; then
  say "npm install --prefix .tools axe-core@$AXE_VERSION"
  npm install --prefix "$IMAGECHAT_TOOLS" --no-audit --no-fund --loglevel=error --save-exact "axe-core@$AXE_VERSION" >&2
fi
