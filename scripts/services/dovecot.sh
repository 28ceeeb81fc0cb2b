#!/usr/bin/env bash
# Services for stackdock-email tests: Dovecot (core + pgsql) and Postfix's pgsql map
# support. Tests start their own throwaway Dovecot; no daemon may stay running here.
# Idempotent, non-interactive, runs as root without a TTY.
set -euo pipefail

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

packages=(dovecot-core dovecot-pgsql postfix-pgsql)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} > 0)); then
    # postfix (pulled in by postfix-pgsql) would otherwise ask how to configure itself.
    echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
    echo "postfix postfix/mailname string localhost" | $sudo debconf-set-selections
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Debian starts both daemons on install; the system Dovecot would hold ports 143/993/110/995
# and the system Postfix port 25. Tests need neither: stop them and keep them from booting.
stop_service() {
    local name=$1
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $sudo systemctl stop "$name" >/dev/null 2>&1 || true
        $sudo systemctl disable "$name" >/dev/null 2>&1 || true
    else
        $sudo service "$name" stop >/dev/null 2>&1 || true
        $sudo update-rc.d "$name" disable >/dev/null 2>&1 || true
    fi
}
stop_service dovecot
stop_service postfix
# Without an init system a stray master may remain; stop exactly the system instances by pid file.
if [ -f /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
    $sudo doveadm stop >/dev/null 2>&1 || $sudo kill "$(cat /run/dovecot/master.pid)" || true
fi
if $sudo postfix status >/dev/null 2>&1; then
    $sudo postfix stop >/dev/null 2>&1 || true
fi

command -v dovecot >/dev/null && command -v doveadm >/dev/null && command -v postmap >/dev/null
doveadm pw -l | grep -qw BLF-CRYPT
echo "dovecot.sh: dovecot $(dovecot --version | cut -d' ' -f1), postfix-pgsql ready; no system daemons running"
