#!/usr/bin/env bash
# Shared helpers of scripts/test.sh and scripts/services/*.sh (sourced, never run).
#
# Every services script installs what one group of tests needs, then proves it
# works with a functional probe. A probe runs only in private temporary
# directories and on free loopback ports: it never reads or writes the
# machine's own configuration (/etc/postfix, /etc/dovecot, /etc/powerdns), so a
# machine that never had those configured passes exactly like this one.

log() { printf '==> %s\n' "$*" >&2; }

# Stops the calling script with a message naming what is missing.
die() {
    printf 'FAILED: %s\n' "$*" >&2
    exit 1
}

sudo_cmd() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages that are missing; `apt-get update` only when
# something is. Daemons that packages would start on install are kept from
# starting (policy-rc.d), since the tests start their own on loopback.
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    local policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
        sudo_cmd chmod +x /usr/sbin/policy-rc.d
        policy_created=1
    fi
    local status=0
    sudo_cmd apt-get update -qq || status=$?
    if [ "$status" -eq 0 ]; then
        sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
    fi
    [ "$policy_created" = 1 ] && sudo_cmd rm -f /usr/sbin/policy-rc.d
    [ "$status" -eq 0 ] || die "apt-get could not install ${missing[*]}"
}

# Stops and disables a packaged system daemon if one runs (systemd or sysvinit).
stop_system_service() {
    local name=$1
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        sudo_cmd systemctl disable --now "$name" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$name" ]; then
        sudo_cmd "/etc/init.d/$name" stop >/dev/null 2>&1 || true
        sudo_cmd update-rc.d "$name" disable >/dev/null 2>&1 || true
    fi
}

# A TCP port on 127.0.0.1 that nothing listens on.
free_tcp_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free loopback port found"
}

# The PostgreSQL URL the tests use (scripts/test.sh exports it).
test_pg_url() {
    echo "${STACKDOCK_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
}

# Commands run when the sourcing script exits, last registered first.
_on_exit=""
# Clean-up never changes the script's exit status.
on_exit() {
    _on_exit="{ $1; } >/dev/null 2>&1 || true; ${_on_exit}"
    # shellcheck disable=SC2064
    trap "status=\$?; set +e; ${_on_exit} exit \$status" EXIT
}

# Sets PROBE_DIR to a private directory, removed when the script exits.
# (Call it directly, not in `$(...)`: the trap belongs to this shell.)
make_probe_dir() {
    PROBE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/stackdock-probe.XXXXXX")
    # Unprivileged daemon processes (dovecot's auth) must reach the files.
    chmod 755 "$PROBE_DIR"
    on_exit "rm -rf '$PROBE_DIR'"
}
