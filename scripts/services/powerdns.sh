#!/usr/bin/env bash
# Services for stackdock-dns tests: PowerDNS (sqlite3 backend), named-checkzone, sqlite3.
# Idempotent. Tests start their own throwaway pdns_server on free loopback ports,
# so any packaged daemon is stopped and disabled to keep port 53/8081 free and
# avoid surprises.
set -euo pipefail

packages=(pdns-server pdns-backend-sqlite3 bind9-utils sqlite3)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "powerdns.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Debian auto-starts pdns on install: forbid that while installing.
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_created=1
    fi
    apt-get update -qq
    apt-get install -y --no-install-recommends "${missing[@]}"
    if [ "$policy_created" = 1 ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
fi

# Stop and disable a packaged daemon if one runs (systemd or sysvinit), never other processes.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now pdns.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/pdns ]; then
    /etc/init.d/pdns stop >/dev/null 2>&1 || true
    update-rc.d pdns disable >/dev/null 2>&1 || true
fi

test -r /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
command -v pdns_server named-checkzone sqlite3 >/dev/null
echo "powerdns.sh: pdns_server, named-checkzone and sqlite3 ready"
