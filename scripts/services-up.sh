#!/usr/bin/env bash
# Make sure the local PostgreSQL, Redis and RabbitMQ that the test suite uses are running; start the
# ones that are not (the commands are this machine kind's own, see docs/operations.md).
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 100); do listening "$1" && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; return 1; }

if ! listening 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_port 5432
fi
if ! listening 6379; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis \
    --logfile /var/log/redis/ci.log
  wait_port 6379
fi
if ! listening 5672; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached
  wait_port 5672
fi
echo "PostgreSQL, Redis and RabbitMQ are up"
