# shellcheck shell=bash
# Sourced after env.sh and setup.sh. Defines:
#   resolve_services       exports DATABASE_URL and REDIS_URL, starting project-local servers if needed
#   stop_started_services  stops only the servers this shell started
#   pg_local_start/stop, redis_local_start/stop   project-local servers under .data/
# Order for each service: the env var when set -> the local default (127.0.0.1:5432 as the current OS
# user, database imagechat / redis://127.0.0.1:6379/0) -> a project-local server under .data/ ->
# a clear message saying what to install.

PG_LOCAL_PORT="${PG_LOCAL_PORT:-54329}"
REDIS_LOCAL_PORT="${REDIS_LOCAL_PORT:-63790}"
PG_LOCAL_DIR="$IMAGECHAT_DATA/pg"
PG_LOCAL_SOCK="$IMAGECHAT_DATA/pg-run"
PG_LOCAL_USER="imagechat"
PG_LOCAL_URL="postgresql+psycopg://$PG_LOCAL_USER@127.0.0.1:$PG_LOCAL_PORT/imagechat"
REDIS_LOCAL_DIR="$IMAGECHAT_DATA/redis"
REDIS_LOCAL_URL="redis://127.0.0.1:$REDIS_LOCAL_PORT/0"
IMAGECHAT_STARTED_SERVICES=""

_svc() { "$IMAGECHAT_VENV/bin/python" "$IMAGECHAT_ROOT/scripts/svc.py" "$@"; }
_say() { printf '\033[1;34m[services]\033[0m %s\n' "$*" >&2; }
_warn() { printf '\033[1;33m[services]\033[0m %s\n' "$*" >&2; }

_pg_bin() {  # Debian keeps initdb/pg_ctl off PATH, under /usr/lib/postgresql/<ver>/bin
  local name="$1" d
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin; do
    [ -x "$d/$name" ] && { echo "$d/$name"; return 0; }
  done
  return 1
}

# initdb/pg_ctl refuse to run as root: run them as the `postgres` system user then.
_as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      _warn "running as root and there is no 'postgres' user to own the local cluster"
      return 1
    fi
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_local_running() { [ -f "$PG_LOCAL_DIR/postmaster.pid" ] && _svc pg "$PG_LOCAL_URL" 2>/dev/null; }

pg_local_start() {
  local initdb pg_ctl
  initdb=$(_pg_bin initdb) && pg_ctl=$(_pg_bin pg_ctl) || return 1
  mkdir -p "$IMAGECHAT_DATA" "$PG_LOCAL_SOCK"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || return 1
    chown postgres: "$PG_LOCAL_SOCK"
    [ -d "$PG_LOCAL_DIR" ] && chown -R postgres: "$PG_LOCAL_DIR"
  fi
  if [ ! -f "$PG_LOCAL_DIR/PG_VERSION" ]; then
    _say "initdb $PG_LOCAL_DIR (user $PG_LOCAL_USER, trust auth on 127.0.0.1 only)"
    mkdir -p "$PG_LOCAL_DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_LOCAL_DIR"
    _as_pg_owner "$initdb" -D "$PG_LOCAL_DIR" -U "$PG_LOCAL_USER" --auth=trust -E UTF8 --no-instructions \
      >"$IMAGECHAT_DATA/pg-initdb.log" 2>&1 || { cat "$IMAGECHAT_DATA/pg-initdb.log" >&2; return 1; }
  fi
  _say "starting project-local PostgreSQL on 127.0.0.1:$PG_LOCAL_PORT (data $PG_LOCAL_DIR)"
  _as_pg_owner "$pg_ctl" -D "$PG_LOCAL_DIR" -l "$PG_LOCAL_DIR/server.log" -w -t 30 \
    -o "-p $PG_LOCAL_PORT -c listen_addresses=127.0.0.1 -k $PG_LOCAL_SOCK" start >/dev/null \
    || { tail -20 "$PG_LOCAL_DIR/server.log" >&2; return 1; }
  _svc pg "$PG_LOCAL_URL"
}

pg_local_stop() {
  local pg_ctl
  [ -f "$PG_LOCAL_DIR/postmaster.pid" ] || return 0
  pg_ctl=$(_pg_bin pg_ctl) || return 0
  _say "stopping project-local PostgreSQL"
  _as_pg_owner "$pg_ctl" -D "$PG_LOCAL_DIR" -m fast -w stop >/dev/null || true
}

redis_local_running() { _svc redis "$REDIS_LOCAL_URL" 2>/dev/null; }

redis_local_start() {
  command -v redis-server >/dev/null 2>&1 || return 1
  mkdir -p "$REDIS_LOCAL_DIR"
  _say "starting project-local Redis on 127.0.0.1:$REDIS_LOCAL_PORT (dir $REDIS_LOCAL_DIR)"
  redis-server --dir "$REDIS_LOCAL_DIR" --port "$REDIS_LOCAL_PORT" --bind 127.0.0.1 --save "" \
    --appendonly yes --appendfsync everysec --daemonize yes --pidfile "$REDIS_LOCAL_DIR/redis.pid" \
    --logfile "$REDIS_LOCAL_DIR/redis.log" >/dev/null || return 1
  local i
  for i in $(seq 50); do redis_local_running && return 0; sleep 0.1; done
  return 1
}

redis_local_stop() {
  [ -f "$REDIS_LOCAL_DIR/redis.pid" ] || return 0
  local pid; pid=$(cat "$REDIS_LOCAL_DIR/redis.pid")
  if kill -0 "$pid" 2>/dev/null; then
    _say "stopping project-local Redis"
    kill -TERM "$pid" 2>/dev/null || true
    local i; for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$REDIS_LOCAL_DIR/redis.pid"
}

_pg_install_hint() {
  cat >&2 <<MSG

No PostgreSQL server answers and none can be started from this project.
  * Point the app at one:     export DATABASE_URL=postgresql+psycopg://USER[:PASSWORD]@HOST:PORT/imagechat
  * or install PostgreSQL:    sudo apt-get install postgresql        (Debian/Ubuntu)
                              brew install postgresql@15              (macOS)
    then run the command again: it starts a project-local server under .data/pg on port $PG_LOCAL_PORT
    (or uses a server on 127.0.0.1:5432 that lets your OS user in).
MSG
}
_redis_install_hint() {
  cat >&2 <<MSG

No Redis server answers and none can be started from this project.
  * Point the app at one:     export REDIS_URL=redis://HOST:6379/0
  * or install Redis:         sudo apt-get install redis-server      (Debian/Ubuntu)
                              brew install redis                      (macOS)
    then run the command again: it starts a project-local server under .data/redis on port $REDIS_LOCAL_PORT.
MSG
}

resolve_services() {
  # PostgreSQL
  if [ -n "${DATABASE_URL:-}" ]; then
    _svc pg "$DATABASE_URL" || { _warn "DATABASE_URL is set but does not answer (see above)"; return 1; }
    _say "PostgreSQL: DATABASE_URL from the environment"
  elif _svc pg "postgresql+psycopg://127.0.0.1:5432/imagechat" 2>/dev/null; then
    export DATABASE_URL="postgresql+psycopg://127.0.0.1:5432/imagechat"
    _say "PostgreSQL: local server on 127.0.0.1:5432"
  elif pg_local_running; then
    export DATABASE_URL="$PG_LOCAL_URL"
    _say "PostgreSQL: project-local server already running on :$PG_LOCAL_PORT"
  elif pg_local_start; then
    export DATABASE_URL="$PG_LOCAL_URL"
    IMAGECHAT_STARTED_SERVICES="$IMAGECHAT_STARTED_SERVICES pg"
  else
    _pg_install_hint; return 1
  fi
  # Redis
  if [ -n "${REDIS_URL:-}" ]; then
    _svc redis "$REDIS_URL" || { _warn "REDIS_URL is set but does not answer (see above)"; return 1; }
    _say "Redis: REDIS_URL from the environment"
  elif _svc redis "redis://127.0.0.1:6379/0" 2>/dev/null; then
    export REDIS_URL="redis://127.0.0.1:6379/0"
    _say "Redis: local server on 127.0.0.1:6379"
  elif redis_local_running; then
    export REDIS_URL="$REDIS_LOCAL_URL"
    _say "Redis: project-local server already running on :$REDIS_LOCAL_PORT"
  elif redis_local_start; then
    export REDIS_URL="$REDIS_LOCAL_URL"
    IMAGECHAT_STARTED_SERVICES="$IMAGECHAT_STARTED_SERVICES redis"
  else
    _redis_install_hint; return 1
  fi
  export IMAGECHAT_STARTED_SERVICES
}

stop_started_services() {
  case " $IMAGECHAT_STARTED_SERVICES " in *" redis "*) redis_local_stop ;; esac
  case " $IMAGECHAT_STARTED_SERVICES " in *" pg "*) pg_local_stop ;; esac
  IMAGECHAT_STARTED_SERVICES=""
}
