#!/usr/bin/env bash
# Rehearses the fresh-machine install path as far as one machine allows.
#
# CI runs on a machine where things installed or configured by hand still
# exist, which is how the README's test command once failed on fresh machines
# while CI was green. This script moves aside the system configuration that
# the services scripts and tests must NOT depend on (a fresh machine has none
# of it: Debian's "No configuration" Postfix has no main.cf, and nothing
# should read /etc/dovecot or /etc/powerdns or a user's PostgreSQL settings),
# runs every services script with its functional probes, and optionally the
# tests that shell out to those tools. Everything is restored afterwards, even
# on failure or Ctrl-C.
#
#   ./scripts/fresh-check.sh            # services scripts and their probes
#   ./scripts/fresh-check.sh --tests    # ... then the tests that use the tools
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"

# What a fresh machine does not have. Paths that do not exist are skipped.
aside_paths=(
    /etc/postfix/main.cf
    /etc/dovecot/dovecot.conf
    /etc/dovecot/conf.d
    /etc/powerdns/pdns.conf
    /etc/powerdns/pdns.d
    "$HOME/.pgpass"
    "$HOME/.psqlrc"
    "$HOME/.pg_service.conf"
)

stash=$(mktemp -d "${TMPDIR:-/tmp}/stackdock-fresh.XXXXXX")
moved=()
restore() {
    local path
    for path in "${moved[@]}"; do
        rm -rf "$path"
        mv "$stash/${path//\//%}" "$path"
    done
    rm -rf "$stash"
    [ ${#moved[@]} -eq 0 ] || log "restored ${moved[*]}"
}
trap restore EXIT
trap 'exit 130' INT TERM

for path in "${aside_paths[@]}"; do
    if [ -e "$path" ]; then
        mv "$path" "$stash/${path//\//%}"
        moved+=("$path")
    fi
done
log "moved aside: ${moved[*]:-(nothing present)}"

# Environment a user may have set by hand that the tests must not need.
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGSSLMODE
export STACKDOCK_TEST_PG_URL=${STACKDOCK_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}

for service in scripts/services/*.sh; do
    log "probe: $service"
    bash "$service" || die "$service failed on a machine without the moved-aside configuration"
done

if [ "${1:-}" = "--tests" ]; then
    log "tests that shell out to the installed tools"
    cargo test --all-features -p stackdock-email --test hash_doveadm --test sql_postfix --test sql_dovecot
    cargo test --all-features -p stackdock-dns --test zonefile --test zonefile_backend --test powerdns
    cargo test --all-features -p stackdock-postgres --test scram_login
    # pdns_server, sqlite3 and PostgreSQL's initdb/pg_ctl, from the runtime,
    # its PostgreSQL store (whole crate: the workers test needs its example
    # binary built) and the CLI.
    cargo test --all-features -p stackdock-runtime --test real_servers
    cargo test --all-features -p stackdock-runtime-postgres
    cargo test --all-features -p stackdock-cli --test tenant
fi

for daemon in pdns_server dovecot master; do
    if pgrep -x "$daemon" >/dev/null; then
        die "a $daemon process is still running after the probes"
    fi
done
log "fresh-machine rehearsal passed: every probe works without the moved-aside configuration"
