#!/usr/bin/env bash
# The browser tests (tests/ui, marker slow, and tests/stack; run by `make test`) drive Debian's Chromium through
# Playwright's executable_path, never a downloaded browser. Installed with apt when missing (root on
# Debian, as in CI); otherwise one clear line saying what to install.
set -euo pipefail
chromium=${SM_PROCESSING_TEST_CHROMIUM:-/usr/bin/chromium}
[[ -x $chromium ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests (apt-get install chromium) ..." >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  exit 0
fi
echo "error: $chromium not found; the browser tests need Debian's chromium (sudo apt-get install chromium)," \
  "or set SM_PROCESSING_TEST_CHROMIUM to a Chromium binary" >&2
exit 1
