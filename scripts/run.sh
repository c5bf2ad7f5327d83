#!/usr/bin/env bash
# `make run` (or `make dev`: hot reload, Vite on APP_PORT + backend on BACKEND_PORT): set up, resolve services, migrate, then run the app (Reflex, prod build, one port) and
# the Dramatiq workers until Ctrl-C. Everything started here is stopped on exit, services included.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
cd "$IMAGECHAT_ROOT"

say() { printf '\033[1;34m[run]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[run]\033[0m %s\n' "$*" >&2; exit 1; }

"$HERE/setup.sh" requirements.txt
source "$HERE/services.sh"

PGIDS=()
cleaning=0
cleanup() {
  local rc=$?
  [ "$cleaning" = 1 ] && return; cleaning=1
  trap '' INT TERM
  local g i
  # Reflex: TERM its whole group (else Vite/Granian children linger). Dramatiq: TERM its main process
  # only; it forwards one TERM to each worker, and a second TERM makes a worker exit abruptly.
  [ -n "${REFLEX_PID:-}" ] && kill -TERM -- "-$REFLEX_PID" 2>/dev/null || true
  [ -n "${WORKER_PID:-}" ] && kill -TERM "$WORKER_PID" 2>/dev/null || true
  for i in $(seq 150); do  # up to 15 s for a graceful stop, then SIGKILL
    local alive=0
    for g in "${PGIDS[@]}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for g in "${PGIDS[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  stop_started_services
  [ ${#PGIDS[@]} -gt 0 ] && say "stopped"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# .env (if any) counts as if exported, without overriding the real environment (as pydantic-settings does).
eval "$(_svc dotenv-exports)"
resolve_services || exit 1
# Reflex keeps UI state in Redis so several Granian workers (and progress pushes) share it.
export REFLEX_REDIS_URL="${REFLEX_REDIS_URL:-$REDIS_URL}"

MODE="${1:-prod}"
read -r APP_PORT BACKEND_PORT WORKER_PROCESSES WORKER_THREADS < <(_svc run-settings)  # env, .env, then Settings defaults
export GRANIAN_WORKERS="${GRANIAN_WORKERS:-2}"  # Reflex would start 5 Granian workers on this 2-core box
LOG_DIR="$IMAGECHAT_DATA/logs"; mkdir -p "$LOG_DIR"

_svc port-free "$APP_PORT" || die "port $APP_PORT is in use: stop that program or run APP_PORT=3001 make $MODE"
if [ "$MODE" = prod ]; then
  BACKEND_PORT="$APP_PORT"   # prod: pages, websocket and API routes all on one port
  PING_URL="http://127.0.0.1:$APP_PORT/ping"
else
  _svc port-free "$BACKEND_PORT" || die "port $BACKEND_PORT is in use: run BACKEND_PORT=8001 make dev"
  PING_URL="http://127.0.0.1:$BACKEND_PORT/ping"
fi

say "alembic upgrade head"
python -m alembic upgrade head

say "starting Reflex ($MODE) on 127.0.0.1:$APP_PORT; log: ${LOG_DIR#$IMAGECHAT_ROOT/}/reflex.log"
t0=$(date +%s)
setsid reflex run --env "$MODE" --frontend-port "$APP_PORT" --backend-port "$BACKEND_PORT" \
  > >(tee "$LOG_DIR/reflex.log") 2>&1 < /dev/null &
REFLEX_PID=$!
PGIDS+=("$REFLEX_PID")

if [ -f workers/__main__.py ]; then
  worker_cmd=(python -m workers --processes "$WORKER_PROCESSES" --threads "$WORKER_THREADS")
else
  worker_cmd=(dramatiq workers.actors --processes "$WORKER_PROCESSES" --threads "$WORKER_THREADS")
fi
say "starting worker: ${worker_cmd[*]}; log: ${LOG_DIR#$IMAGECHAT_ROOT/}/worker.log"
setsid "${worker_cmd[@]}" > "$LOG_DIR/worker.log" 2>&1 < /dev/null &
WORKER_PID=$!
PGIDS+=("$WORKER_PID")

if ! _svc wait-http "$PING_URL" "${APP_START_TIMEOUT:-600}" "$REFLEX_PID"; then
  die "the app did not come up; see ${LOG_DIR#$IMAGECHAT_ROOT/}/reflex.log"
fi
_svc wait-http "http://127.0.0.1:$APP_PORT/" 60 "$REFLEX_PID" || die "the app answers /ping but not /"
kill -0 "$WORKER_PID" 2>/dev/null || { tail -30 "$LOG_DIR/worker.log" >&2; die "the worker exited"; }
printf '\n\033[1;32m  imagechat is running at http://127.0.0.1:%s/\033[0m   (ready in %s s; Ctrl-C stops everything)\n\n' \
  "$APP_PORT" "$(( $(date +%s) - t0 ))" >&2

# Stay until Ctrl-C or until one of the processes dies (then stop the rest and fail).
set +e
wait -n "$REFLEX_PID" "$WORKER_PID"
rc=$?
set -e
if kill -0 "$REFLEX_PID" 2>/dev/null; then
  tail -30 "$LOG_DIR/worker.log" >&2; say "the worker exited (code $rc); stopping"
else
  say "Reflex exited (code $rc); stopping"
fi
exit 1
