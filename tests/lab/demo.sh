#!/usr/bin/env bash
# The main job against the bundled lab, for a newcomer: installs the lab's packages, builds
# rdpshim, starts a few real servers that the stock client cannot reach as they are, runs
# `rdpshim connect HOST` with no knobs against each (watch the fallbacks), connects a second
# time (the saved profile: one attempt), exports a FreeRDP command line, and stops the lab.
#
#   tests/lab/demo.sh            (as root: the lab uses mount and network namespaces)
set -euo pipefail
cd "$(dirname "$0")/../.."
LAB=tests/lab/lab.sh

tests/lab/install-deps.sh
echo "== building rdpshim (release)"
cargo build --release -q -p rdpshim
BIN=$PWD/target/release/rdpshim

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rdpshim-demo.XXXXXX")
export RDPSHIM_CONFIG_DIR=$WORK/config
started=()
cleanup() {
    for d in "${started[@]}"; do "$LAB" stop "$d" >/dev/null 2>&1 || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A free TCP port below the ephemeral range, distinct per server.
port=$((20000 + RANDOM % 10000))
next_port() {
    while ss -Hltn "sport = :$port" | grep -q .; do
        port=$((port + 1))
    done
    echo "$port"
    port=$((port + 1))
}

# demo KIND DESCRIPTION [rdpshim args...]
demo() {
    local kind=$1 what=$2
    shift 2
    local dir=$WORK/$kind p line
    p=$(next_port)
    line=$("$LAB" start "$kind" "$p" "$dir")
    started+=("$dir")
    local -A kv=()
    local w
    for w in $line; do kv[${w%%=*}]=${w#*=}; done
    local target="${kv[host]}:${kv[port]}" wrap=()
    if [[ -n "${kv[name]:-}" ]]; then
        target="${kv[name]}:${kv[port]}"
        wrap=(tests/lab/with-hosts.sh "${kv[hosts]}")
    fi
    local -a auth=()
    if [[ -n "${kv[user]}" ]]; then auth=(-u "${kv[user]}" --password-stdin); fi
    echo
    echo "== $kind: $what"
    echo "\$ rdpshim connect $target ${auth[*]} $*"
    printf '%s\n' "${kv[password]}" | "${wrap[@]}" "$BIN" connect "$target" "${auth[@]}" "$@" \
        --timeout 3 --deadline 20 --screenshot "$WORK/$kind.png" >/dev/null || true
    if [[ "$kind" == xrdp-tls10 ]]; then
        echo "-- second connect: the saved profile goes first"
        "$BIN" connect "$target" --timeout 3 >/dev/null || true
        echo "-- the known-good configuration as a FreeRDP 2 command line:"
        "$BIN" profile export "$target" --format freerdp --freerdp-version 2 2>/dev/null || echo "(profiles not available)"
    fi
}

demo xrdp-modern "TLS-only server (no NLA): mstsc with NLA required fails here"
demo xrdp-tls10 "speaks only TLS 1.0 with a CBC suite (old Windows Server)"
demo xrdp-aes128sha "TLS 1.2 with only AES128-SHA (RSA key exchange, CBC)"
demo shadow-nla "requires NLA (CredSSP); lab credentials from the lab"
demo ipv6-first "its name resolves to ::1 first, where nothing listens"
demo xrdp-rdp-only "Standard RDP Security only: rdpshim refuses, with a verdict"
demo netns-drop "behind a firewall that drops packets: a verdict within the deadline"
echo
echo "== done; screenshots were in $WORK (removed on exit)"
