#!/usr/bin/env bash
# Installs Debian's Chromium if it is missing. The end-to-end test of the
# Temporal UI (e2e/ui_browser_test.go) drives it headless; nothing else
# uses it.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "Chromium not found: installing Debian's chromium package ..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "Chromium install failed" >&2; exit 1; }
