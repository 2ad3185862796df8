#!/usr/bin/env bash
# What `make bench` needs beyond the venv: wrk (Debian), redis-server and redis-benchmark
# (Debian), node and npm (Debian) for the express peer. Installs what is missing when it can
# (root with apt-get); otherwise names what is missing and fails.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/debian-packages.sh"

need wrk wrk
need redis-server redis-server
need redis-benchmark redis-tools
need node nodejs
need npm npm
install_missing " for the benchmarks" 1 \
    "make bench needs these Debian packages: ${missing[*]} (run as root, or install them)"
