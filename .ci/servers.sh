#!/usr/bin/env bash
# Installs (Debian/Ubuntu, as root) and starts PostgreSQL and RabbitMQ on 127.0.0.1 for the scale-out profile.
# Idempotent: safe to run when they are already installed or running.
set -euo pipefail

PG_PASSWORD="${MERCATO_PG_ADMIN_PASSWORD:-postgres}"

if ! command -v pg_ctlcluster >/dev/null || ! command -v rabbitmq-server >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  # A failed refresh (a mirror down for a moment) still leaves the lists already here to install from.
  apt-get update -qq || echo "apt-get update failed; installing from the package lists already here" >&2
  apt-get install -y -qq postgresql rabbitmq-server >/dev/null
fi

# PostgreSQL: the distribution's cluster, listening on loopback only; the admin (postgres) gets a password so the
# AppHost can create one database and one role per service.
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  # The newest server the package installed (15 on Debian 12, 16 on Ubuntu 24.04, 17 on Debian 13).
  newest=$(ls /usr/lib/postgresql | sort -V | tail -1)
  pg_createcluster "$newest" main >/dev/null
  cluster="$newest main"
fi
read -r pg_version pg_name <<<"$cluster"
conf_dir="/etc/postgresql/$pg_version/$pg_name"
sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "$conf_dir/postgresql.conf"
# The end-to-end suite runs ~10 processes per system, each with a connection pool.
sed -i "s/^#\?max_connections.*/max_connections = 400/" "$conf_dir/postgresql.conf"
if ! pg_lsclusters --no-header | awk -v v="$pg_version" -v n="$pg_name" '$1 == v && $2 == n {print $4}' | grep -q online; then
  pg_ctlcluster "$pg_version" "$pg_name" start
fi
pg_ready() {
  for _ in $(seq 1 30); do
    su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "PostgreSQL $pg_version/$pg_name does not answer after 30 s (pg_lsclusters: $(pg_lsclusters --no-header | tr '\n' ';'))" >&2
  return 1
}
pg_ready
# A cluster already running (the package starts it on systemd machines) reads both settings only at a restart.
live=$(su postgres -c "psql -qAtc \"select current_setting('max_connections') || ' ' || current_setting('listen_addresses')\"")
if [ "$live" != "400 127.0.0.1" ]; then
  pg_ctlcluster "$pg_version" "$pg_name" restart
  pg_ready
fi
su postgres -c "psql -qc \"ALTER USER postgres PASSWORD '$PG_PASSWORD'\"" >/dev/null

# RabbitMQ: guest/guest may connect from loopback, which is all we use. Erlang's port mapper (epmd, 4369) and the
# node's distribution port (25672) bind every interface by default, whichever process starts them first (the server
# or a rabbitmqctl call): loopback for them too.
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
mkdir -p /etc/rabbitmq
# The same settings in the node's own environment file, for a node that systemd starts after a reboot.
cat > /etc/rabbitmq/rabbitmq-env.conf <<'CONF'
NODE_IP_ADDRESS=127.0.0.1
NODENAME=rabbit@localhost
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export ERL_EPMD_ADDRESS=127.0.0.1
CONF
if ! rabbitmqctl -n rabbit@localhost status >/dev/null 2>&1; then
  if command -v systemctl >/dev/null && systemctl is-active --quiet rabbitmq-server 2>/dev/null; then
    # The package's own node (rabbit@<hostname>, every interface) holds port 5672: this one, on loopback, replaces it,
    # and so does a port mapper it left listening on every interface.
    systemctl stop rabbitmq-server
    epmd -kill >/dev/null 2>&1 || true
  fi
  (rabbitmq-server >/var/log/rabbitmq-mercato.log 2>&1 &)
  rabbitmqctl -n rabbit@localhost wait --timeout 120 /var/lib/rabbitmq/mnesia/rabbit@localhost.pid >/dev/null 2>&1 \
    || rabbitmqctl -n rabbit@localhost await_startup >/dev/null
fi
echo "PostgreSQL on 127.0.0.1:5432 (postgres/$PG_PASSWORD), RabbitMQ on 127.0.0.1:5672 (guest/guest)."
