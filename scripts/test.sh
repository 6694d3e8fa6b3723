#!/usr/bin/env bash
# Install everything the test suite needs, then run it. Arguments go to pytest.
#   Debian packages: prometheus (+ promtool), haproxy, chromium (report tests)
#   Python packages: the project with its [test] extra
# The servers themselves (Prometheus, HAProxy, HTTP backends) are started by pytest fixtures on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
missing=()
for pair in prometheus:prometheus promtool:prometheus haproxy:haproxy chromium:chromium; do
  bin=${pair%%:*} pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  # keep package scripts from starting daemons on their default (non-loopback) ports
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
  fi
  echo "installing Debian packages: $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u) fonts-dejavu-core
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# the type checker configured in pyproject.toml ([tool.mypy]: analysis/ and judges/)
python3 -m mypy
exec python3 -m pytest "$@"
