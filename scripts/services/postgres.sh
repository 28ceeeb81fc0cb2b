#!/usr/bin/env bash
# Services for stackdock-postgres tests beyond the PostgreSQL server that
# scripts/test.sh already provides, then probes proving each works:
#   - the test server answers `select 1`;
#   - the server binaries exist (tests/scram_login.rs starts a private
#     scram-sha-256 + TLS cluster with them);
#   - `openssl` makes a throwaway CA certificate (the same test's TLS).
# Starts no daemon. Idempotent, non-interactive, runs as root without a TTY.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

apt_install openssl postgresql postgresql-client

url=$(test_pg_url)
psql -X -At "$url" -c 'select 1' 2>/dev/null | grep -qx 1 ||
    die "postgres.sh: the test PostgreSQL ($url) does not answer 'select 1'"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
    die "postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql (package postgresql)"

make_probe_dir
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=stackdock-probe" \
    -keyout "$PROBE_DIR/ca.key" -out "$PROBE_DIR/ca.crt" >/dev/null 2>&1 ||
    die "postgres.sh: openssl cannot make a throwaway certificate"

echo "postgres.sh: PostgreSQL answers, server binaries and openssl probed"
