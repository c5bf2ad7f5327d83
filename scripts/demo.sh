#!/usr/bin/env bash
# `make demo`: record a walk-through of the running app into docs/demo/ (screenshots and demo.mp4; scripts/demo.py
# says what it does). Start the app first with `make run`; the demo drives it at DEMO_URL (default: the address
# `make run` serves, http://127.0.0.1:APP_PORT). Sets up the dev requirements (Playwright), Chromium and ffmpeg
# first. Extra arguments go to scripts/demo.py: scripts/demo.sh --no-video --out /tmp/demo
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
cd "$IMAGECHAT_ROOT"

say() { printf '\033[1;34m[demo]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[demo]\033[0m %s\n' "$*" >&2; exit 1; }

"$HERE/setup.sh" requirements.txt requirements-dev.txt
source "$HERE/programs.sh"
need_chromium
[[ " $* " == *" --no-video "* ]] || need_ffmpeg "; or make demo DEMO_ARGS=--no-video for the screenshots only"

if [ -z "${DEMO_URL:-}" ]; then  # where `make run` serves: APP_PORT from the environment, .env or the default
  eval "$(python scripts/svc.py dotenv-exports APP_PORT)"
  read -r app_port _ < <(python scripts/svc.py run-settings 2>/dev/null || echo 3000)
  export DEMO_URL="http://127.0.0.1:${app_port:-3000}"
fi
exec python scripts/demo.py "$@"
