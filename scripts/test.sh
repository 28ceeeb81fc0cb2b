#!/usr/bin/env bash
# The one test command (README "Test"): on a fresh Debian machine it installs
# and starts what the tests need, then runs every test of the workspace.
#
#   ./scripts/test.sh            # everything
#   ./scripts/test.sh -p stackdock-dns   # extra args go to `cargo test`
#
# Services:
#   - PostgreSQL: uses the server on 127.0.0.1:5432 when it answers (or
#     $STACKDOCK_TEST_PG_URL when set); otherwise installs Debian's package and
#     starts a private throwaway cluster (trust auth, loopback only) under
#     target/stackdock-pg, and exports STACKDOCK_TEST_PG_URL for the tests.
#   - scripts/services/*.sh: each installs the Debian packages one provider's
#     real-server tests need (PowerDNS, Dovecot ...) and proves they work with
#     a functional probe; a failed probe stops here with a message naming the
#     missing piece. Those tests start their own throwaway servers on free
#     loopback ports and never rely on the machine's own configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# shellcheck source=lib.sh
. "$root/scripts/lib.sh"

ensure_postgres() {
  if [ -n "${STACKDOCK_TEST_PG_URL:-}" ]; then
    log "PostgreSQL: using \$STACKDOCK_TEST_PG_URL"
    return 0
  fi
  apt_install postgresql postgresql-client
  if pg_isready -q -h 127.0.0.1 -p 5432 && psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    log "PostgreSQL: using the server on 127.0.0.1:5432"
    export STACKDOCK_TEST_PG_URL="postgres://postgres@127.0.0.1:5432/postgres"
    return 0
  fi
  # A private cluster: never touches the machine's own configuration.
  local bindir data port=55432
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  data="$root/target/stackdock-pg"
  if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
    log "PostgreSQL: starting a private cluster on 127.0.0.1:$port"
    mkdir -p "$root/target"
    if [ ! -f "$data/PG_VERSION" ]; then
      rm -rf "$data"; mkdir -p "$data"; chown postgres:postgres "$data"
      su postgres -s /bin/sh -c "$bindir/initdb -D '$data' -U postgres --auth=trust -E UTF8 >/dev/null"
    fi
    chown -R postgres:postgres "$data"
    su postgres -s /bin/sh -c "$bindir/pg_ctl -D '$data' -l '$data/server.log' -w -o \"-h 127.0.0.1 -p $port -k /tmp -c max_connections=200\" start >/dev/null"
  fi
  export STACKDOCK_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

if [ "${STACKDOCK_SKIP_SERVICES:-0}" != "1" ]; then
  ensure_postgres
  for service in scripts/services/*.sh; do
    [ -e "$service" ] || continue
    log "service: $service"
    bash "$service" || die "$service: its install step or probe failed (see above)"
  done
fi

# With no arguments: every crate. With `-p <crate>` (or other cargo args):
# just what was asked (`--workspace` would override `-p`).
if [ $# -eq 0 ]; then
  set -- --workspace
fi
log "cargo test --all-features $*"
cargo test --all-features "$@"
