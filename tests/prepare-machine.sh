#!/usr/bin/env bash
# Make sure this machine has what the tests need: Debian's docker-registry and skopeo,
# Node.js with the packages of tests/node and tests/browser (npm ci), Debian's chromium,
# promtool (package prometheus, to lint /metrics), and Redis and PostgreSQL answering on
# 127.0.0.1. Idempotent; starts only what is down.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v promtool >/dev/null || missing+=(prometheus)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
# The browser suite (tests/browser): Debian's chromium, and npm for axe-core (npm ci below).
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

(cd "$(dirname "$0")/browser" && npm ci --no-audit --no-fund --silent)

# the Node.js publisher and subscriber (tests/e2e/test_node_clients.py), from the lockfile
(cd "$(dirname "$0")/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -1)" main start
fi
for _ in $(seq 1 50); do
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
  sleep 0.2
done
echo "Redis or PostgreSQL did not come up on 127.0.0.1" >&2
exit 1
