#!/usr/bin/env bash
# Debian packages the end-to-end tests use: Chromium (driven by Playwright), nginx (the gateway
# in front of /auth/verify), and node with npm (examples/node_api and clients/node, tested with
# `node --test`). Installs what is missing when it can (root with apt-get); otherwise
# says so, and those tests skip with the reason.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/debian-packages.sh"

need chromium chromium
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
need node nodejs
need npm npm
install_missing "" 0 \
    "note: ${missing[*]} not installed and cannot be installed here; browser/gateway/node example tests will skip"
