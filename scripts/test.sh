#!/usr/bin/env bash
# `make test`: set up (runtime + dev + Stable Diffusion extras, bun, Chromium), lint (ruff), resolve services,
# then run the whole pytest suite against them. Extra arguments go to pytest: scripts/test.sh -k smoke
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
cd "$IMAGECHAT_ROOT"

say() { printf '\033[1;34m[test]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[test]\033[0m %s\n' "$*" >&2; exit 1; }

reqs=(requirements.txt requirements-dev.txt)
[ "${IMAGECHAT_SKIP_SD:-0}" = 1 ] || reqs+=(requirements-sd.txt)
"$HERE/setup.sh" "${reqs[@]}"

# Lint first: cheap, and needs no services (rules in pyproject.toml [tool.ruff]).
say "ruff check ."
ruff check --output-format concise . \
  || die "ruff check failed (problems listed above). Many are fixed by: .venv/bin/ruff check --fix PATH"

# Chromium for the Playwright tests; ffmpeg for the recorded demo's test (tests/e2e/test_demo.py).
source "$HERE/programs.sh"
need_chromium
need_ffmpeg

source "$HERE/services.sh"
# The e2e tests build the app: leave reflex.lock/package.json in Reflex's own form (scripts/svc.py reflex_lock).
trap '_svc reflex-lock || true; stop_started_services' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
eval "$(_svc dotenv-exports DATABASE_URL REDIS_URL TEST_REDIS_URL)"  # only the service URLs from .env
resolve_services || exit 1
# The suite creates its own database per session on this server and uses Redis database 15.
export TEST_REDIS_URL="${TEST_REDIS_URL:-$(_svc test-redis "$REDIS_URL")}"

python scripts/config_docs.py check || die ".env.example / README.md do not match imagechat/settings.py"
say "python -m pytest $*"
python -m pytest "$@"
