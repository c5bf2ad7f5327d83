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

# Stopping. Reflex and Dramatiq run in sessions of their own (setsid): no terminal signal reaches them, only this
# script stops them. Ctrl-C sends SIGINT to the terminal's whole foreground group (make, this script, the log
# tees); a supervisor sends SIGTERM to the group; `kill <make>` reaches this script too (GNU make passes SIGTERM
# on to its recipe), and if make dies without a word (SIGKILL) the wait loop below notices. The stop:
#   1. TERM Reflex's whole group (its Granian workers) and Dramatiq's main process only (it passes one TERM to each
#      worker process; a second TERM makes a worker exit abruptly);
#   2. wait until both groups are gone, at most STOP_GRACE_S (7) seconds, less if Ctrl-C is pressed again;
#   3. KILL whatever is left of both groups, then stop only the services this script started.
# A signal that arrives while stopping only sets HURRY (second Ctrl-C): it must never `exit` again. `exit` inside
# the EXIT trap ends the script on the spot and orphans the app, and a group SIGTERM does arrive twice (from the
# sender and from make).
PGIDS=()
STOPPING=""
HURRY=0
on_signal() {  # on_signal NAME EXIT_CODE
  if [ -n "$STOPPING" ] || [[ " ${FUNCNAME[*]:1} " == *" cleanup "* ]]; then
    [ "$1" = INT ] && HURRY=1
    return 0
  fi
  STOPPING=$1
  exit "$2"
}
now_us() { NOW_US=${EPOCHREALTIME:-$SECONDS.000000}; NOW_US=${NOW_US/[.,]/}; }
secs() { echo "$(( $1 / 1000000 )).$(( $1 / 100000 % 10 )) s"; }  # microseconds -> "1.2 s"
group_alive() { [ -n "$1" ] && kill -0 -- "-$1" 2>/dev/null; }
groups_alive() { local g; for g in "${PGIDS[@]}"; do group_alive "$g" && return 0; done; return 1; }
cleanup() {
  local rc=$? g start took="" wtook="" lock_pid=""
  STOPPING=${STOPPING:-EXIT}
  set +e
  trap '' PIPE  # a closed terminal or log pipe must not end this half-way
  [ -n "${BG_WAIT_PID:-}" ] && kill "$BG_WAIT_PID" 2>/dev/null  # the waiting below (sleep / wait-http)
  if [ ${#PGIDS[@]} -gt 0 ]; then
    now_us; start=$NOW_US
    [ -n "${REFLEX_PID:-}" ] && kill -TERM -- "-$REFLEX_PID" 2>/dev/null
    [ -n "${WORKER_PID:-}" ] && kill -TERM "$WORKER_PID" 2>/dev/null
    # A `bun add` during the run may have re-formatted reflex.lock/package.json: normalise it meanwhile (a Python
    # start-up, seconds on a busy machine; Reflex writes that file only while it compiles, at start-up).
    if [ -n "${REFLEX_PID:-}" ] && [ "$(cat "$IMAGECHAT_ROOT/reflex.lock/package.json" 2>/dev/null)" != "${LOCK_AT_START:-}" ]
    then ( trap '' INT TERM HUP; _svc reflex-lock ) & lock_pid=$!
    fi
    case "$STOPPING" in
      INT) say "stopping the app and the worker (Ctrl-C again: stop at once)" ;;
      TERM|HUP) say "SIG$STOPPING: stopping the app and the worker" ;;
    esac
    while :; do  # until both groups are gone, at most STOP_GRACE_S, or a second Ctrl-C
      now_us
      [ -z "$took" ] && ! group_alive "${REFLEX_PID:-}" && took="app $(secs $(( NOW_US - start )))"
      [ -z "$wtook" ] && ! group_alive "${WORKER_PID:-}" && wtook="worker $(secs $(( NOW_US - start )))"
      groups_alive || break
      [ "$HURRY" = 1 ] || (( NOW_US - start >= ${STOP_GRACE_S:-7} * 1000000 )) && break
      sleep 0.1
    done
    for g in "${PGIDS[@]}"; do group_alive "$g" && kill -KILL -- "-$g" 2>/dev/null; done
    for g in 1 2 3 4 5 6 7 8 9 10; do groups_alive || break; sleep 0.1; done  # SIGKILL takes a moment
  fi
  trap '' INT TERM HUP  # the rest is quick: let nothing interrupt it
  [ -n "$lock_pid" ] && wait "$lock_pid"
  stop_started_services
  if [ ${#PGIDS[@]} -gt 0 ]; then
    now_us
    say "stopped in $(secs $(( NOW_US - start ))) (${took:-app: killed}, ${wtook:-worker: killed})"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP  # the terminal was closed

# .env (if any) counts as if exported, without overriding the real environment (as pydantic-settings does).
eval "$(_svc dotenv-exports)"
resolve_services || exit 1
# Reflex keeps UI state in Redis so several Granian workers (and progress pushes) share it.
export REFLEX_REDIS_URL="${REFLEX_REDIS_URL:-$REDIS_URL}"

MODE="${1:-prod}"
read -r APP_PORT BACKEND_PORT WORKER_PROCESSES WORKER_THREADS < <(_svc run-settings)  # env, .env, then Settings defaults
export GRANIAN_WORKERS="${GRANIAN_WORKERS:-2}"  # Reflex would start 5 Granian workers on this 2-core box
LOG_DIR="${LOG_DIR:-$IMAGECHAT_DATA/logs}"; mkdir -p "$LOG_DIR"  # the app's own rotating logs go there too

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

# Reflex copies .web/package.json over reflex.lock/package.json on every build: give both the one form
# Reflex renders itself, so the build leaves `git status` clean (scripts/svc.py reflex_lock explains).
_svc reflex-lock "${REFLEX_WEB_WORKDIR:-$IMAGECHAT_ROOT/.web}" || say "could not normalise reflex.lock/package.json; continuing"
LOCK_AT_START=$(cat reflex.lock/package.json 2>/dev/null || true)  # the stop normalises it again only if it changed

say "starting Reflex ($MODE) on 127.0.0.1:$APP_PORT; log: ${LOG_DIR#$IMAGECHAT_ROOT/}/reflex.log"
t0=$(date +%s)
setsid reflex run --env "$MODE" --frontend-port "$APP_PORT" --backend-port "$BACKEND_PORT" \
  > >(python -m imagechat.logs tee "$LOG_DIR/reflex.log") 2>&1 < /dev/null &  # tee, rotated at LOG_MAX_BYTES
REFLEX_PID=$!
PGIDS+=("$REFLEX_PID")

if [ -f workers/__main__.py ]; then
  worker_cmd=(python -m workers --processes "$WORKER_PROCESSES" --threads "$WORKER_THREADS")
else
  worker_cmd=(dramatiq workers.actors --processes "$WORKER_PROCESSES" --threads "$WORKER_THREADS")
fi
# On SIGTERM Dramatiq waits up to 10 min for running jobs: give up well inside the stop's grace period (a job cut
# short stays unacknowledged in Redis and is requeued like a crashed worker's).
worker_cmd+=(--worker-shutdown-timeout 3000)
say "starting worker: ${worker_cmd[*]}; log: ${LOG_DIR#$IMAGECHAT_ROOT/}/worker.log"
setsid "${worker_cmd[@]}" > >(python -m imagechat.logs tee --quiet "$LOG_DIR/worker.log") 2>&1 < /dev/null &
WORKER_PID=$!
PGIDS+=("$WORKER_PID")

# bash runs a trap only once the foreground command has ended, and the first build takes minutes: wait for the
# app in the background (Ctrl-C ignored there; it gives up when Reflex is gone) so a signal is handled at once.
wait_http() {
  ( trap '' INT; exec "$IMAGECHAT_VENV/bin/python" "$IMAGECHAT_ROOT/scripts/svc.py" wait-http "$@" ) &
  BG_WAIT_PID=$!
  wait "$BG_WAIT_PID"
}
if ! wait_http "$PING_URL" "${APP_START_TIMEOUT:-600}" "$REFLEX_PID"; then
  die "the app did not come up; see ${LOG_DIR#$IMAGECHAT_ROOT/}/reflex.log"
fi
wait_http "http://127.0.0.1:$APP_PORT/" 60 "$REFLEX_PID" || die "the app answers /ping but not /"
kill -0 "$WORKER_PID" 2>/dev/null || { tail -30 "$LOG_DIR/worker.log" >&2; die "the worker exited"; }
printf '\n\033[1;32m  imagechat is running at http://127.0.0.1:%s/\033[0m   (ready in %s s; Ctrl-C stops everything)\n\n' \
  "$APP_PORT" "$(( $(date +%s) - t0 ))" >&2

# Stay until a signal, until Reflex or the worker exits (then stop the other and fail), or until make is gone
# (killed with SIGKILL, say): the app never runs on without the command that started it.
set +e
PARENT_IS_MAKE=0
case "$(ps -o comm= -p "$PPID" 2>/dev/null)" in *make) PARENT_IS_MAKE=1 ;; esac
while kill -0 "$REFLEX_PID" 2>/dev/null && kill -0 "$WORKER_PID" 2>/dev/null; do
  if [ "$PARENT_IS_MAKE" = 1 ] && ! kill -0 "$PPID" 2>/dev/null; then
    say "make ($PPID) is gone; stopping"; exit 1
  fi
  sleep 1 & BG_WAIT_PID=$!
  wait "$BG_WAIT_PID"  # a trapped signal ends this `wait` at once (a foreground sleep would delay the trap)
done
if kill -0 "$REFLEX_PID" 2>/dev/null; then
  wait "$WORKER_PID"; rc=$?
  tail -30 "$LOG_DIR/worker.log" >&2; say "the worker exited (code $rc); stopping"
else
  wait "$REFLEX_PID"; rc=$?
  say "Reflex exited (code $rc); stopping"
fi
exit 1
