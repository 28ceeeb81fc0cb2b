#!/usr/bin/env bash
# Services for stackdock-email tests: Dovecot (core + pgsql) and Postfix's pgsql
# map support, then probes proving each works on this machine:
#   - `doveadm pw -s BLF-CRYPT` hashes and verifies a password;
#   - a throwaway Dovecot starts on a private config, authenticates, stops;
#   - `postmap -q` answers from a generated `pgsql:` map with a known row.
# Tests start their own throwaway Dovecot and give `postmap` a private config
# directory (`-c`), so no system daemon runs and /etc/postfix/main.cf is never
# needed (Debian's "No configuration" install does not create one).
# Idempotent, non-interactive, runs as root without a TTY.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

# postfix (pulled in by postfix-pgsql) would otherwise ask how to configure itself.
if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q "install ok installed"; then
    echo "postfix postfix/main_mailer_type select No configuration" | sudo_cmd debconf-set-selections
    echo "postfix postfix/mailname string localhost" | sudo_cmd debconf-set-selections
fi
apt_install dovecot-core dovecot-pgsql postfix-pgsql postgresql-client

# A machine where they were installed before policy-rc.d may still run them.
stop_system_service dovecot
stop_system_service postfix

for tool in dovecot doveadm postmap psql; do
    command -v "$tool" >/dev/null || die "dovecot.sh: '$tool' is not installed"
done

make_probe_dir
dir=$PROBE_DIR

# 1. doveadm hashes with bcrypt and verifies what it made, on a private
#    (empty) config: /etc/dovecot/dovecot.conf is not needed.
: >"$dir/empty.conf"
hash=$(doveadm -c "$dir/empty.conf" pw -s BLF-CRYPT -p probe-Password-1) ||
    die "dovecot.sh: 'doveadm pw -s BLF-CRYPT' failed (dovecot-core lacks bcrypt?)"
doveadm -c "$dir/empty.conf" pw -t "$hash" -p probe-Password-1 >/dev/null ||
    die "dovecot.sh: doveadm cannot verify its own BLF-CRYPT hash"

# 2. A throwaway Dovecot (auth only, static passdb) starts, answers, stops.
mkdir -p "$dir/run" "$dir/state"
cat >"$dir/dovecot.conf" <<EOF
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
instance_name = $(basename "$dir")
protocols =
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = static
  args = password=probe-Password-1
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$dir/home
}
EOF
dovecot -F -c "$dir/dovecot.conf" </dev/null >/dev/null 2>&1 &
dovecot_pid=$!
on_exit "kill $dovecot_pid 2>/dev/null; wait $dovecot_pid 2>/dev/null"
for _ in $(seq 1 100); do
    [ -S "$dir/run/auth-client" ] && break
    kill -0 "$dovecot_pid" 2>/dev/null || break
    sleep 0.1
done
[ -S "$dir/run/auth-client" ] ||
    die "dovecot.sh: a throwaway dovecot did not start: $(cat "$dir/dovecot.log" 2>/dev/null)"
doveadm -c "$dir/dovecot.conf" auth test probe probe-Password-1 2>&1 | grep -q "auth succeeded" ||
    die "dovecot.sh: the throwaway dovecot did not authenticate: $(cat "$dir/dovecot.log")"
kill "$dovecot_pid"
wait "$dovecot_pid" 2>/dev/null || true

# 3. postmap answers from a pgsql: map through a private, empty main.cf.
url=$(test_pg_url)
[[ "$url" =~ ^postgres(ql)?://([^@/]+)@([^:/]+):([0-9]+)/([^?]+) ]] ||
    die "dovecot.sh: cannot read user/host/port/db from the test PostgreSQL URL"
pg_user=${BASH_REMATCH[2]%%:*} pg_host=${BASH_REMATCH[3]} pg_port=${BASH_REMATCH[4]} pg_db=${BASH_REMATCH[5]}
psql -X -At "$url" -c 'select 1' 2>/dev/null | grep -qx 1 ||
    die "dovecot.sh: PostgreSQL at $pg_host:$pg_port does not answer 'select 1'"
: >"$dir/main.cf"
cat >"$dir/probe-map.cf" <<EOF
hosts = $pg_host:$pg_port
user = $pg_user
dbname = $pg_db
query = SELECT 'probe-row-ok' WHERE '%s' = 'probe@example.com'
EOF
found=$(postmap -c "$dir" -q probe@example.com "pgsql:$dir/probe-map.cf" 2>"$dir/postmap.err") ||
    die "dovecot.sh: 'postmap -q' on a pgsql: map failed (postfix-pgsql): $(cat "$dir/postmap.err")"
[ "$found" = probe-row-ok ] ||
    die "dovecot.sh: 'postmap -q' returned '$found' instead of the probe row"

echo "dovecot.sh: dovecot $(dovecot --version | cut -d' ' -f1) (bcrypt, auth) and postmap pgsql: probed; no system daemon running"
