#!/usr/bin/env bash
# What `make bench` needs beyond the venv: wrk (Debian), redis-server and redis-benchmark
# (Debian), node and npm (Debian) for the express peer. Installs what is missing when it can
# (root with apt-get); otherwise names what is missing and fails.
set -euo pipefail

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages for the benchmarks: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "make bench needs these Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
fi
