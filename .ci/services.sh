#!/usr/bin/env bash
# Install (only what is missing) and start the services DLLab's test suite uses:
#   Redis       127.0.0.1:6379
#   PostgreSQL  127.0.0.1:5432, database dllab_test, user postgres, trust auth
#   Docker      dockerd started by hand (no systemd), `docker info` answers
#   Chromium    /usr/bin/chromium (headless browser tests)
#   ssh-keygen  (tests check SSH key fingerprints against it)
# plus debootstrap (base image) and make.
#
# Idempotent: a service that already answers is left alone, apt runs only when a
# package is missing. Needs root (apt, dockerd). Used by .ci/run; developers can run
# it as well:  sudo .ci/services.sh   (or: sudo make ci-services)
#
# Environment knobs:
#   DLLAB_CI_STATE   state dir for Postgres data and logs (default /var/lib/dllab-ci)
#   DLLAB_CI_WAIT    seconds to wait for a service before failing (default 60)
#   DLLAB_CI_SERVICES  which to start (default "redis postgres docker browser")
#   DLLAB_CI_REDIS_PORT, DLLAB_CI_PG_PORT  (default 6379, 5432)
set -euo pipefail

STATE=${DLLAB_CI_STATE:-/var/lib/dllab-ci}
WAIT=${DLLAB_CI_WAIT:-60}
SERVICES=" ${DLLAB_CI_SERVICES:-redis postgres docker browser} "
PG_PORT=${DLLAB_CI_PG_PORT:-5432}
PG_DB=dllab_test
REDIS_PORT=${DLLAB_CI_REDIS_PORT:-6379}

T0=$SECONDS
say() { printf '[services +%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { printf '[services +%3ds] ERROR: %s\n' $((SECONDS - T0)) "$*" >&2; exit 1; }

# wait_for NAME LOGFILE CMD...: run CMD until it succeeds, at most $WAIT seconds.
wait_for() {
    local name=$1 log=$2; shift 2
    local deadline=$((SECONDS + WAIT))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            printf '[services] %s did not answer within %ss. Last lines of %s:\n' \
                "$name" "$WAIT" "$log" >&2
            tail -n 30 "$log" >&2 2>/dev/null || true
            die "$name is not ready"
        fi
        sleep 0.5
    done
    say "$name is ready"
}

[[ $(id -u) -eq 0 ]] || die "run as root (sudo $0): it installs packages and starts dockerd"

# fd 9 holds the lock; every daemon started below gets 9>&- so it does not inherit it.
exec 9>/run/dllab-ci-services.lock
flock -w 300 9 || die "another services.sh holds /run/dllab-ci-services.lock"

mkdir -p "$STATE"

# ---------------------------------------------------------------- packages
# stale_pidfile FILE NAME: true when FILE names a pid that is not a running NAME, the
# leftover of a daemon that was killed (CI ends everything a session left running, and
# the pid may since belong to another process: the daemons would then refuse to start).
stale_pidfile() {
    local pid
    [[ -f $1 ]] || return 1
    pid=$(head -n 1 "$1" 2>/dev/null | tr -dc 0-9)
    [[ -z $pid || $(cat "/proc/$pid/comm" 2>/dev/null) != "$2" ]]
}

installed() { [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]; }

# Installed without Recommends (much less to fetch); the few recommended packages the
# tests need are named explicitly.
wanted=(redis-server postgresql docker.io chromium fonts-liberation debootstrap make openssh-client
        ca-certificates xz-utils pigz procps iproute2)
# docker 20.10 refuses to start containers when the kernel has AppArmor but
# apparmor_parser is missing.
if [[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]]; then
    wanted+=(apparmor)
fi
# Debian's python3 has no ensurepip (no `python3 -m venv`) without python3-venv.
if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip' 2>/dev/null; then
    wanted+=(python3 python3-venv)
fi

missing=()
for p in "${wanted[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
    say "installing: ${missing[*]} (log: $STATE/apt.log)"
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l
    if ! { apt-get update -q &&
           apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
         } >"$STATE/apt.log" 2>&1; then
        tail -n 40 "$STATE/apt.log" >&2
        die "apt-get failed (full log: $STATE/apt.log)"
    fi
    say "packages installed: $(grep -c '^Setting up' "$STATE/apt.log") packages set up"
else
    say "all packages present"
fi

# ---------------------------------------------------------------- Redis
wants() { [[ $SERVICES == *" $1 "* ]]; }

redis_ok() { [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }
if ! wants redis; then
    say "redis: not wanted (DLLAB_CI_SERVICES)"
elif redis_ok; then
    say "redis already answers on 127.0.0.1:$REDIS_PORT"
else
    say "starting redis on 127.0.0.1:$REDIS_PORT"
    mkdir -p "$STATE/redis"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
        --dir "$STATE/redis" --logfile "$STATE/redis.log" \
        --pidfile "$STATE/redis.pid" --save '' --appendonly no 9>&-
    wait_for redis "$STATE/redis.log" redis_ok
fi

# ---------------------------------------------------------------- PostgreSQL
PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
         sort -V | tail -n 1)
[[ -x $PG_BIN/initdb ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
PG_DATA=$STATE/pg
PG_LOG=$STATE/pg.log
as_postgres() { runuser -u postgres -- "$@"; }
pg_ok() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

if ! wants postgres; then
    say "postgres: not wanted (DLLAB_CI_SERVICES)"
elif pg_ok; then
    say "postgres already answers on 127.0.0.1:$PG_PORT"
else
    if [[ ! -s $PG_DATA/PG_VERSION ]]; then
        say "initdb $PG_DATA"
        mkdir -p "$PG_DATA"
        chown postgres:postgres "$PG_DATA"
        as_postgres "$PG_BIN/initdb" -D "$PG_DATA" --auth=trust --username=postgres \
            --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    fi
    # pg_ctl refuses root; the socket dir is normally made by systemd-tmpfiles.
    install -d -o postgres -g postgres -m 2775 /run/postgresql
    if stale_pidfile "$PG_DATA/postmaster.pid" postgres; then
        say "removing the stale $PG_DATA/postmaster.pid"
        rm -f "$PG_DATA/postmaster.pid"
    fi
    if stale_pidfile "/run/postgresql/.s.PGSQL.$PG_PORT.lock" postgres; then
        rm -f "/run/postgresql/.s.PGSQL.$PG_PORT" "/run/postgresql/.s.PGSQL.$PG_PORT.lock"
    fi
    touch "$PG_LOG" && chown postgres:postgres "$PG_LOG"
    say "starting postgres ($PG_BIN) on 127.0.0.1:$PG_PORT"
    # fsync off: test data only, and much faster schema churn.
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$WAIT" start \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k /run/postgresql -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200" \
        >/dev/null 9>&- || { tail -n 30 "$PG_LOG" >&2; die "pg_ctl start failed"; }
    wait_for postgres "$PG_LOG" pg_ok
fi

if wants postgres; then
    psql_tcp() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -w -X -q -tA "$@"; }
    psql_tcp -d postgres -c 'select 1' >/dev/null 2>&1 ||
        die "something answers on 127.0.0.1:$PG_PORT but user postgres cannot log in without a" \
            "password (trust auth). Stop it (e.g. Debian's own cluster: pg_ctlcluster 15 main stop)" \
            "and rerun this script."
    if [[ $(psql_tcp -d postgres -c "select 1 from pg_database where datname = '$PG_DB'") != 1 ]]; then
        psql_tcp -d postgres -c "create database $PG_DB"
        say "created database $PG_DB"
    else
        say "database $PG_DB exists"
    fi
fi

# ---------------------------------------------------------------- Docker
if ! wants docker; then
    say "docker: not wanted (DLLAB_CI_SERVICES)"
elif docker info >/dev/null 2>&1; then
    say "docker already answers"
elif pgrep -x dockerd >/dev/null; then
    say "dockerd runs but does not answer yet; waiting"
    wait_for docker /var/log/dockerd.log docker info
else
    for f in /var/run/docker.pid:dockerd /var/run/docker/containerd/containerd.pid:containerd; do
        if stale_pidfile "${f%%:*}" "${f##*:}"; then
            say "removing the stale ${f%%:*}"
            rm -f "${f%%:*}"
        fi
    done
    say "starting dockerd (log /var/log/dockerd.log)"
    setsid nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null 9>&- &
    wait_for docker /var/log/dockerd.log docker info
fi

# ---------------------------------------------------------------- Chromium
if wants browser; then
    [[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium is missing"
    say "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown')"
fi
say "ready:${SERVICES% } (redis://127.0.0.1:$REDIS_PORT/15, postgresql://postgres@127.0.0.1:$PG_PORT/$PG_DB)"
