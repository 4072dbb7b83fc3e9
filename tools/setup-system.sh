#!/usr/bin/env bash
# Installs the Debian packages the test suites need, when they are missing.
#
# `make test` runs it first. Each entry of PACKAGES is one Debian package the
# tests drive; add a line (with why) when a suite needs another system tool.
# Everything present: returns at once, no apt. As root: `apt-get update`
# (only when something is missing), then installs what is missing. Not root:
# prints the command to run and fails, so nothing is skipped silently.
set -euo pipefail

PACKAGES=(
  chromium # tests/browser: the web workbench in a real browser (/usr/bin/chromium)
  prometheus # tests/observability: promtool and a real Prometheus (/usr/bin/promtool, /usr/bin/prometheus)
  prometheus-alertmanager # tests/observability: amtool and a real Alertmanager (/usr/bin/amtool, /usr/bin/prometheus-alertmanager)
  docker.io # make test-deploy: the Docker engine the compose smoke test runs on (/usr/sbin/dockerd)
  docker-compose # tests/contract, make test-deploy: `docker-compose config` and `up` of deploy/docker-compose.yml (/usr/bin/docker-compose)
  debootstrap # make test-deploy, make image: the local Debian base image, since none can be pulled (/usr/sbin/debootstrap)
)

installed() {
  [ "$(dpkg-query --show --showformat='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup-system: not a Debian system (no dpkg-query); install these packages: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
  installed "$package" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: missing Debian packages: ${missing[*]}" >&2
  echo "setup-system: install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "setup-system: installing ${missing[*]}"
# Wait for another apt run (an image's first boot, a concurrent install)
# instead of failing on its lock.
apt_options=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
export DEBIAN_FRONTEND=noninteractive
apt-get "${apt_options[@]}" update -qq
apt-get "${apt_options[@]}" install -y -qq --no-install-recommends "${missing[@]}"

for package in "${missing[@]}"; do
  installed "$package" || {
    echo "setup-system: $package is still not installed" >&2
    exit 1
  }
done
