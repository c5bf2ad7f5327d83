#!/usr/bin/env bash
# Stop the project-local PostgreSQL and Redis (if running) and delete .data/. Servers not started by
# this project (a system PostgreSQL on :5432, DATABASE_URL/REDIS_URL) are never touched.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
cd "$IMAGECHAT_ROOT"
if [ -x "$IMAGECHAT_VENV/bin/python" ]; then
  source "$HERE/services.sh"
  redis_local_stop
  pg_local_stop
fi
rm -rf "$IMAGECHAT_DATA"
echo "[clean-data] removed .data/" >&2
