#!/usr/bin/env bash
# Services for stackdock-dns tests: PowerDNS (sqlite3 backend), named-checkzone
# and sqlite3, then probes proving each works on this machine:
#   - a throwaway pdns_server on free loopback ports answers one API call;
#   - named-checkzone accepts a generated zone and rejects a broken one.
# Tests start their own throwaway pdns_server with a private --config-dir, so
# the packaged daemon is stopped and /etc/powerdns is never read.
# Idempotent, non-interactive, runs as root without a TTY.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

apt_install pdns-server pdns-backend-sqlite3 bind9-utils sqlite3
stop_system_service pdns

schema=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
[ -r "$schema" ] || die "powerdns.sh: the sqlite3 schema $schema is missing (pdns-backend-sqlite3)"
for tool in pdns_server named-checkzone sqlite3; do
    command -v "$tool" >/dev/null || die "powerdns.sh: '$tool' is not installed"
done

make_probe_dir
dir=$PROBE_DIR

# 1. pdns_server on a private config answers the API.
sqlite3 "$dir/pdns.sqlite3" <"$schema" || die "powerdns.sh: sqlite3 cannot load the PowerDNS schema"
: >"$dir/pdns.conf"
answered=""
for _attempt in 1 2 3; do
    api_port=$(free_tcp_port)
    dns_port=$(free_tcp_port)
    pdns_server --config-dir="$dir" --socket-dir="$dir" --launch=gsqlite3 \
        --gsqlite3-database="$dir/pdns.sqlite3" --local-address=127.0.0.1 \
        --local-port="$dns_port" --api=yes --api-key=probe-key --webserver=yes \
        --webserver-address=127.0.0.1 --webserver-port="$api_port" \
        --webserver-allow-from=127.0.0.1 --daemon=no --guardian=no --disable-syslog \
        --setuid= --setgid= --security-poll-suffix= </dev/null >"$dir/pdns.log" 2>&1 &
    pdns_pid=$!
    on_exit "kill $pdns_pid 2>/dev/null; wait $pdns_pid 2>/dev/null"
    for _ in $(seq 1 100); do
        kill -0 "$pdns_pid" 2>/dev/null || break
        if answer=$( (exec 3<>"/dev/tcp/127.0.0.1/$api_port" &&
            printf 'GET /api/v1/servers/localhost HTTP/1.0\r\nX-API-Key: probe-key\r\n\r\n' >&3 &&
            cat <&3) 2>/dev/null) && [[ "$answer" == *'"daemon_type"'* ]]; then
            answered=yes
            break
        fi
        sleep 0.1
    done
    kill "$pdns_pid" 2>/dev/null || true
    wait "$pdns_pid" 2>/dev/null || true
    [ -n "$answered" ] && break
done
[ -n "$answered" ] || die "powerdns.sh: a throwaway pdns_server did not answer its API: $(tail -n 20 "$dir/pdns.log")"

# 2. named-checkzone accepts a good zone and rejects a broken one for its reason.
cat >"$dir/good.zone" <<'EOF'
$TTL 300
@   IN SOA ns1.probe.example. hostmaster.probe.example. 1 3600 600 86400 300
@   IN NS  ns1.probe.example.
ns1 IN A   192.0.2.1
EOF
named-checkzone probe.example "$dir/good.zone" >"$dir/checkzone.out" 2>&1 ||
    die "powerdns.sh: named-checkzone rejects a valid zone: $(cat "$dir/checkzone.out")"
printf '$TTL 300\n@ IN A 192.0.2.1\n' >"$dir/bad.zone"
if named-checkzone probe.example "$dir/bad.zone" >"$dir/checkzone.out" 2>&1 ||
    ! grep -q "has 0 SOA records" "$dir/checkzone.out"; then
    die "powerdns.sh: named-checkzone does not reject a zone without SOA: $(cat "$dir/checkzone.out")"
fi

echo "powerdns.sh: pdns_server (API), named-checkzone and sqlite3 probed; no system daemon running"
