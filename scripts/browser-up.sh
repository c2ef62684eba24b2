#!/usr/bin/env bash
# The browser the dashboard test drives (tests/integration/test_dashboard.py): Debian's Chromium, which
# Playwright runs through its executable_path (Playwright's own browser downloads are not reachable here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then echo "Chromium is installed"; exit 0; fi
echo "installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
/usr/bin/chromium --version
