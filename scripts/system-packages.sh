#!/usr/bin/env bash
# Debian packages the end-to-end tests use: Chromium (driven by Playwright), nginx (the gateway
# in front of /auth/verify), and node with npm (examples/node_api, tested with `node --test`). Installs what is missing when it can (root with apt-get); otherwise
# says so, and those tests skip with the reason.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "note: ${missing[*]} not installed and cannot be installed here; browser/gateway/node example tests will skip" >&2
fi
