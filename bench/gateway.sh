#!/usr/bin/env bash
# rdpshim gateway benchmark: connect-to-first-frame direct vs through the test RD Gateway
# (rdpshim-test-gateway on loopback, NTLM), on the same lab server, and xfreerdp
# +auth-only through the same gateway for reference. Then the whole ladder
# (`rdpshim connect`, no knobs) direct vs through the gateway, cold (no profile: every
# fallback the server needs) and warm (the saved profile: one attempt).
#
#   bench/gateway.sh [-n N] [KIND...]
#     -n N     measured runs per mode (default 10), after 1 warm-up each
#     KIND...  lab kinds (default: xrdp-modern xrdp-tls10 shadow-nla)
#
# Writes markdown tables to stdout and to bench/GATEWAY.md (overwritten). Builds
# `cargo build --release --example gateway_first_frame`, rdpshim and the test gateway if
# missing (rebuild them after changing the code). Needs root (the lab does), xfreerdp and
# xvfb-run.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
LAB="$ROOT/tests/lab/lab.sh"
PROBE="$ROOT/target/release/examples/gateway_first_frame"
GATEWAY="$ROOT/target/release/rdpshim-test-gateway"
N=10
while getopts "n:h" opt; do
    case "$opt" in
    n) N=$OPTARG ;;
    *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "gateway.sh: -n wants a positive integer" >&2; exit 2; }
KINDS=("$@")
[[ ${#KINDS[@]} -gt 0 ]] || KINDS=(xrdp-modern xrdp-tls10 shadow-nla)

[[ -x "$PROBE" ]] || cargo build --release --example gateway_first_frame -p rdpshim >&2
[[ -x "$GATEWAY" ]] || cargo build --release -p rdpshim-test-gateway >&2
RDPSHIM="$ROOT/target/release/rdpshim"
[[ -x "$RDPSHIM" ]] || cargo build --release -p rdpshim >&2

WORK=$(mktemp -d /tmp/rdpshim-bench-gateway.XXXXXX)
GW_PID=
cleanup() {
    [[ -n "$GW_PID" ]] && kill "$GW_PID" 2>/dev/null || true
    for dir in "$WORK"/lab-*; do [[ -d "$dir" ]] && "$LAB" stop "$dir" >/dev/null 2>&1 || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Passwords only through the environment (never argv).
export RDPSHIM_GATEWAY_PASSWORD="Gw-Bench-$$"
GW_PASS_VAR=RDPSHIM_GATEWAY_PASSWORD
"$GATEWAY" --port 0 --user gwuser --password-env "$GW_PASS_VAR" >"$WORK/gw.out" 2>"$WORK/gw.err" &
GW_PID=$!
for _ in $(seq 50); do grep -q '^listening' "$WORK/gw.out" 2>/dev/null && break; sleep 0.1; done
GW_ADDR=$(sed -n 's/^listening //p' "$WORK/gw.out")
[[ -n "$GW_ADDR" ]] || { echo "gateway.sh: the test gateway did not start: $(cat "$WORK/gw.err")" >&2; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ms_since() { echo "$(( ($(date +%s%N) - $1) / 100000 ))" | awk '{printf "%.1f\n", $1/10}'; }

port=$((23000 + RANDOM % 1000))
{
    echo "# Gateway benchmark"
    echo
    echo "Connect-to-first-frame (ms, median of $N after one warm-up) on loopback, $(date -u +%Y-%m-%d),"
    echo "$(nproc) cores. \`direct\`: rdpshim's engine dialling the server. \`gateway\`: the same engine"
    echo "through rdpshim-test-gateway (TLS 1.3, NTLM, WebSocket), timed from dialling the gateway;"
    echo "\`tunnel\` is the part spent before the tunnel was open (gateway TCP + TLS + NTLM over HTTP +"
    echo "MS-TSGU setup + the gateway's TCP to the server). \`xfreerdp\`: \`xfreerdp +auth-only\` through the"
    echo "same gateway (whole process, for reference). Produced by \`bench/gateway.sh\`."
    echo
    echo "| server | direct | gateway | tunnel | overhead | xfreerdp via gateway |"
    echo "|---|---|---|---|---|---|"
} >"$WORK/report.md"

for kind in "${KINDS[@]}"; do
    port=$((port + 1))
    line=$("$LAB" start "$kind" "$port" "$WORK/lab-$kind")
    user=$(sed -n 's/.* user=\([^ ]*\).*/\1/p' <<<"$line")
    password=$(sed -n 's/.* password=\([^ ]*\) pidfile.*/\1/p' <<<"$line")
    args=("127.0.0.1:$port")
    [[ -n "$user" ]] && args+=(--user "$user")
    [[ "$kind" == xrdp-tls10 ]] && args+=(--tls10)
    export RDPSHIM_PASSWORD="$password"
    direct=() gateway=() tunnel=() xf=()
    for i in $(seq 0 "$N"); do
        d=$("$PROBE" "${args[@]}" | awk '{print $2}')
        read -r _ g t _ < <("$PROBE" "${args[@]}" --gateway "$GW_ADDR")
        start=$(date +%s%N)
        xargs_extra=()
        [[ "$kind" == xrdp-tls10 ]] && xargs_extra+=(/tls-seclevel:0)
        HOME="$WORK/xfhome" xvfb-run -a xfreerdp "/v:127.0.0.1:$port" "/g:$GW_ADDR" /gu:gwuser \
            "/gp:$RDPSHIM_GATEWAY_PASSWORD" "/u:${user:-labuser}" "/p:${password:-x}" +auth-only \
            /cert:ignore "${xargs_extra[@]}" >/dev/null 2>&1 || true
        x=$(ms_since "$start")
        [[ $i -eq 0 ]] && continue
        direct+=("$d") gateway+=("$g") tunnel+=("$t") xf+=("$x")
    done
    md=$(printf '%s\n' "${direct[@]}" | median)
    mg=$(printf '%s\n' "${gateway[@]}" | median)
    mt=$(printf '%s\n' "${tunnel[@]}" | median)
    mx=$(printf '%s\n' "${xf[@]}" | median)
    over=$(awk -v g="$mg" -v d="$md" 'BEGIN{printf "%+.1f", g-d}')
    echo "| $kind | $md | $mg | $mt | $over | $mx |" >>"$WORK/report.md"
    "$LAB" stop "$WORK/lab-$kind" >/dev/null
done

# ---------------------------------------------------------------- the ladder
# `rdpshim connect --json` (no knobs): its `ms` is the whole run, every attempt. Cold: a
# fresh profile directory each run; warm: one primed by a connect first.
ladder_ms() { # config-dir kind-args... -> "ms attempts"
    local dir=$1; shift
    RDPSHIM_CONFIG_DIR="$dir" RDPSHIM_NO_KEYRING=1 "$RDPSHIM" connect --json "$@" \
        <<<"${STDIN_LINE:-}" 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ms"] if d["connected"] else "fail", len(d["attempts"]))'
}
{
    echo
    echo "## The ladder through the gateway"
    echo
    echo "\`rdpshim connect\` with no knobs (ms for the whole run, median of $N after one warm-up;"
    echo "attempts in parentheses), on the same server directly and through the same test gateway."
    echo "Cold: no profile, so every fallback the server needs (xrdp-tls10: mstsc's offer, where it"
    echo "selects TLS, then the legacy hello), each attempt through its own tunnel; warm: the saved"
    echo "profile, one attempt."
    echo
    echo "| server | direct cold | gateway cold | direct warm | gateway warm |"
    echo "|---|---|---|---|---|"
} >>"$WORK/report.md"
for kind in "${KINDS[@]}"; do
    port=$((port + 1))
    line=$("$LAB" start "$kind" "$port" "$WORK/lab-$kind")
    user=$(sed -n 's/.* user=\([^ ]*\).*/\1/p' <<<"$line")
    password=$(sed -n 's/.* password=\([^ ]*\) pidfile.*/\1/p' <<<"$line")
    target="127.0.0.1:$port"
    if [[ -n "$user" ]]; then
        # The host's account on stdin; the gateway's own in its variable.
        host_args=(-u "$user" --password-stdin) STDIN_LINE=$password
        gw_args=(--gateway "$GW_ADDR" --gateway-user gwuser)
    else
        host_args=() STDIN_LINE=""
        gw_args=(--gateway "$GW_ADDR" --gateway-user gwuser --password-stdin)
    fi
    export RDPSHIM_GATEWAY_PASSWORD
    row="| $kind |"
    for mode in direct-cold gateway-cold direct-warm gateway-warm; do
        extra=()
        [[ $mode == gateway-* ]] && extra=("${gw_args[@]}")
        stdin=$STDIN_LINE
        [[ $mode == gateway-* && -z "$user" ]] && stdin=$RDPSHIM_GATEWAY_PASSWORD
        warm="$WORK/warm-$kind-$mode"
        rm -rf "$warm"
        STDIN_LINE=$stdin ladder_ms "$warm" "$target" "${host_args[@]}" "${extra[@]}" >/dev/null
        times=() attempts=
        for i in $(seq 0 "$N"); do
            dir=$warm
            if [[ $mode == *-cold ]]; then dir="$WORK/cold-$kind-$mode-$i"; fi
            read -r ms n < <(STDIN_LINE=$stdin ladder_ms "$dir" "$target" "${host_args[@]}" "${extra[@]}")
            [[ $i -eq 0 ]] && continue
            times+=("$ms") attempts=$n
        done
        row="$row $(printf '%s\n' "${times[@]}" | median) ($attempts) |"
    done
    echo "$row" >>"$WORK/report.md"
    "$LAB" stop "$WORK/lab-$kind" >/dev/null
done
{
    echo
    echo "Load average while measuring: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores."
} >>"$WORK/report.md"

cp "$WORK/report.md" "$BENCH_DIR/GATEWAY.md"
cat "$BENCH_DIR/GATEWAY.md"
