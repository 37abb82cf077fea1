#!/usr/bin/env bash
# Installs Debian's chromium (and CJK fonts for screenshots) for the real-browser tests.
# Playwright drives this chromium through executable_path; no browser is ever downloaded.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
command -v chromium
