#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser): Playwright drives /usr/bin/chromium through
# `executable_path`, so Playwright's own browser downloads are never needed. Idempotent and quiet: does nothing
# when the binary is there; installs with apt-get as root (or via passwordless sudo); otherwise says what to run
# and exits 0, and the browser tests skip with that reason.
set -euo pipefail
CHROMIUM=${DURO_CHROMIUM:-/usr/bin/chromium}
[[ -x $CHROMIUM ]] && exit 0
if [[ $CHROMIUM != /usr/bin/chromium ]]; then
  echo "ensure_chromium: $CHROMIUM (DURO_CHROMIUM) is not executable" >&2
  exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "ensure_chromium: $CHROMIUM missing and no root; run 'apt-get install -y chromium' (browser tests skip)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: no apt-get; install Chromium at $CHROMIUM (browser tests skip)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
("${SUDO[@]}" apt-get install -y -q chromium || ("${SUDO[@]}" apt-get update -q && "${SUDO[@]}" apt-get install -y -q chromium)) >/dev/null
[[ -x $CHROMIUM ]] || { echo "ensure_chromium: apt-get did not install $CHROMIUM" >&2; exit 1; }
