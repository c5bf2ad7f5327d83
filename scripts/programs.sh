# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh (after they define `say` and `die`): system programs a command
# needs that pip and npm cannot provide (Chromium for Playwright, whose own browser download does not work
# offline; ffmpeg for the demo video). A missing one is installed with apt-get when running as root on
# Debian/Ubuntu; otherwise the command stops and says how to install it.

_have_program() { [ -x "$1" ] || { [[ "$1" != */* ]] && command -v "$1" >/dev/null; }; }

need_program() {  # need_program COMMAND_OR_PATH APT_PACKAGE HOW_TO_INSTALL
  local program=$1 package=$2 how=$3
  _have_program "$program" && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $package: apt-get install -y $package"
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >/dev/null \
      || die "apt-get install $package failed"
    _have_program "$program" || die "$program is still missing after apt-get install $package. Install it: $how"
  else
    die "$program is missing. Install it: $how"
  fi
}

need_chromium() {  # Playwright drives the system Chromium (CHROMIUM_PATH)
  export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
  need_program "$CHROMIUM_PATH" chromium "sudo apt-get install chromium (Debian) / chromium-browser (Ubuntu),
  or set CHROMIUM_PATH=/path/to/chromium"
}

need_ffmpeg() {  # encodes the demo video (scripts/demo.py)
  need_program ffmpeg ffmpeg "sudo apt-get install ffmpeg (Debian/Ubuntu) or brew install ffmpeg (macOS)${1:-}"
}
