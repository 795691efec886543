#!/usr/bin/env bash
# with-hosts.sh HOSTSFILE CMD [ARGS...]
# Run CMD in a private mount namespace where HOSTSFILE is bind-mounted over /etc/hosts
# (e.g. the ipv6-first kind's DIR/hosts, which makes rdpshim-lab-v6first resolve to ::1 first).
# Needs root. The host's /etc/hosts is untouched; the mount vanishes with the namespace.
set -euo pipefail
if (($# < 2)); then
    echo "usage: with-hosts.sh HOSTSFILE CMD [ARGS...]" >&2
    exit 2
fi
hosts=$(realpath -e -- "$1")
shift
# shellcheck disable=SC2016 # $0 and $@ are expanded by the inner sh
exec unshare -m --propagation private sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$hosts" "$@"
