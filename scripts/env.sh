# shellcheck shell=bash
# Sourced by every entry point (make run, make test, .ci/run, the e2e fixture): project paths and the
# switches that keep Reflex from making outbound probes on an offline machine. No side effects beyond
# exporting variables, so it is safe to source more than once.

IMAGECHAT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export IMAGECHAT_ROOT

# Pinned tools installed by scripts/setup.sh.
export IMAGECHAT_BUN_VERSION="1.4.4"
export IMAGECHAT_VENV="${IMAGECHAT_VENV:-$IMAGECHAT_ROOT/.venv}"
export IMAGECHAT_TOOLS="$IMAGECHAT_ROOT/.tools"
export IMAGECHAT_DATA="$IMAGECHAT_ROOT/.data"

# bun from the npm registry (Reflex's own installer downloads from outside the registries).
export REFLEX_BUN_PATH="$IMAGECHAT_TOOLS/node_modules/.bin/bun"
case ":$PATH:" in
  *":$IMAGECHAT_TOOLS/node_modules/.bin:"*) ;;
  *) export PATH="$IMAGECHAT_TOOLS/node_modules/.bin:$PATH" ;;
esac
case ":$PATH:" in
  *":$IMAGECHAT_VENV/bin:"*) ;;
  *) export PATH="$IMAGECHAT_VENV/bin:$PATH" ;;
esac

# Reflex probes, all off (see /work/shared/ENVIRONMENT.md):
export REFLEX_HTTP_CLIENT_BIND_ADDRESS="0.0.0.0"   # no request to a public address to test IPv4
export REFLEX_CHECK_LATEST_VERSION=0               # no PyPI "latest version" lookup
export REFLEX_TELEMETRY_ENABLED=false              # also telemetry_enabled=False in rxconfig.py
if [ -z "${NPM_CONFIG_REGISTRY:-}" ]; then          # no latency probe of two registries
  NPM_CONFIG_REGISTRY="$(npm config get registry 2>/dev/null || true)"
  export NPM_CONFIG_REGISTRY="${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org/}"
fi

# Never reach out to model hubs from this project's scripts.
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export PYTHONUNBUFFERED=1
