#!/usr/bin/env bash
# Build DLLab's local Debian base image without any registry:
#   debootstrap (minbase + python3, venv, CA certificates, procps) -> docker import.
#
# usage: images/base/build.sh [--force] [TAG]      (TAG default: dllab/base:bookworm)
#
# Skips the build when TAG already exists, unless --force. Needs root (debootstrap)
# and a running Docker engine.
#
# The Debian mirror is read at run time from this machine's apt configuration
# (/etc/apt/sources.list.d/debian.sources, else /etc/apt/sources.list); set
# DLLAB_DEBIAN_MIRROR to override it. Downloaded .debs are kept in
# DLLAB_DEBOOTSTRAP_CACHE (default /var/cache/dllab-ci/debootstrap) so a rebuild is
# faster.
set -euo pipefail

SUITE=bookworm
INCLUDE=python3,python3-venv,ca-certificates,procps
CACHE=${DLLAB_DEBOOTSTRAP_CACHE:-/var/cache/dllab-ci/debootstrap}

TAG=dllab/base:bookworm
FORCE=0
for arg in "$@"; do
    case $arg in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option: $arg" >&2; exit 2 ;;
        *) TAG=$arg ;;
    esac
done

T0=$SECONDS
phase() { printf '[base-image +%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { printf '[base-image] ERROR: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "Docker engine not answering (start it: sudo .ci/services.sh)"

if ((!FORCE)) && docker image inspect "$TAG" >/dev/null 2>&1; then
    phase "$TAG already exists, skipping (use --force to rebuild)"
    exit 0
fi

[[ $(id -u) -eq 0 ]] || die "debootstrap needs root: sudo $0 $*"
command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"

# The first URI of the apt source that serves the plain suite (not -security/-updates).
find_mirror() {
    local f=/etc/apt/sources.list.d/debian.sources uri=
    if [[ -r $f ]]; then
        # deb822 stanzas are separated by blank lines: prefer the stanza whose Suites
        # lists the bare suite name, else take the first URIs line at all.
        uri=$(awk -v RS= '
            {
                u = ""; plain = 0
                n = split($0, lines, "\n")
                for (i = 1; i <= n; i++) {
                    if (lines[i] ~ /^URIs:/) { split(lines[i], w, /[ \t]+/); u = w[2] }
                    if (lines[i] ~ /^Suites:/) {
                        m = split(lines[i], s, /[ \t]+/)
                        for (j = 2; j <= m; j++) if (s[j] !~ /-/) plain = 1
                    }
                }
                if (u != "" && first == "") first = u
                if (u != "" && plain) { print u; found = 1; exit }
            }
            END { if (!found && first != "") print first }' "$f")
    fi
    if [[ -z $uri && -r /etc/apt/sources.list ]]; then
        # "deb [opts] URI suite components": the first URI of a non-security deb line.
        uri=$(awk '$1 == "deb" {
                for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) {
                    if ($i !~ /security/) { print $i; exit } else break
                } }' /etc/apt/sources.list)
    fi
    printf '%s' "$uri"
}

MIRROR=${DLLAB_DEBIAN_MIRROR:-$(find_mirror)}
[[ -n $MIRROR ]] || die "no Debian mirror found in apt sources; set DLLAB_DEBIAN_MIRROR"

mkdir -p /var/tmp "$CACHE"
ROOTFS=$(mktemp -d /var/tmp/dllab-base-rootfs.XXXXXX)
LOG=$ROOTFS.log
cleanup() {
    # debootstrap mounts /proc and /sys in the target; never rm -rf through a mount.
    local m
    set +e  # best effort: errexit would end the trap at the first failing command
    grep -o " $ROOTFS/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    rm -rf --one-file-system "$ROOTFS"
    rm -f "$LOG"
}
trap cleanup EXIT

phase "debootstrap $SUITE (minbase + $INCLUDE) from $MIRROR into $ROOTFS"
# Show debootstrap's phase lines, not one line per package; success is judged from
# the log below (grep exits 1 when it filters everything, so the pipe status is moot).
debootstrap --variant=minbase --include="$INCLUDE" --cache-dir="$CACHE" \
        "$SUITE" "$ROOTFS" "$MIRROR" 2>&1 |
    tee "$LOG" |
    grep --line-buffered -vE '^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [^ ]+( [^ ]*[^ .])?$' |
    sed -u 's/^/    /' || true
grep -q '^I: Base system installed successfully' "$LOG" || {
    echo "---- last lines of the debootstrap log:" >&2
    tail -n 40 "$LOG" >&2
    die "debootstrap failed"
}

phase "trimming the rootfs"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/var/log/*.log "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/*
# Containers get their own resolv.conf/hostname from the engine.
: > "$ROOTFS/etc/resolv.conf"
: > "$ROOTFS/etc/hostname"

phase "docker import -> $TAG ($(du -sh --one-file-system "$ROOTFS" | cut -f1) rootfs)"
tar --numeric-owner -C "$ROOTFS" -c . |
    docker import \
        --change 'CMD ["/bin/bash"]' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change "LABEL org.opencontainers.image.title=dllab-base org.opencontainers.image.description=\"Debian $SUITE minbase with python3 (built by images/base/build.sh)\"" \
        --message "dllab base image: debootstrap $SUITE minbase" \
        - "$TAG" >/dev/null

phase "smoke test"
docker run --rm "$TAG" python3 -c \
    'import sys, venv, ssl; print("python", sys.version.split()[0], "ok")'

phase "done: $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
