#!/usr/bin/env bash
# rdpshim latency benchmark: every lab server behind the delaying proxy at several round-trip
# times: one attempt with the right knobs, a warm connect (saved profile), a cold ladder (no
# profile), and xfreerdp on the same proxy; plus a name whose first address drops packets.
#
#   bench/latency.sh [-n N] [-b] [-k] [-r "0 50 150"] [-B] [KIND...]
#     -n N      measured runs per mode per server and RTT (default 5), after 1 warm-up each
#     -b        rebuild target/release/rdpshim (and delay-proxy) even if they exist
#     -k        keep the private work dir (raw CSV, JSON, proxy logs) and print its path
#     -r LIST   round-trip times in ms (default "0 50 150")
#     -B        also save this run's medians as the "before" baseline (bench/latency-baseline.csv)
#               that every later report compares itself with
#     KIND...   lab kinds (default: the six below and dead-first, a name resolving to a
#               netns-drop IPv6 address first and a working xrdp-modern on 127.0.0.1 second)
#
# Writes a markdown report to stdout and to bench/LATENCY.md (overwritten).
# Needs root (the lab does), and: cargo, python3, xfreerdp (freerdp2-x11), Xvfb (xvfb), GNU
# time as /usr/bin/time, and the lab's own dependencies (tests/lab/install-deps.sh).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SUMMARIZE="$BENCH_DIR/summarize_latency.py"
BASELINE="$BENCH_DIR/latency-baseline.csv"
PROXY=${RDPSHIM_DELAY_PROXY:-$ROOT/target/release/delay-proxy}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-60}
DEFAULT_KINDS=(xrdp-modern xrdp-tls10 xrdp-aes128sha xrdp-expired shadow-nla shadow-tls dead-first)
MODES=(direct warm cold xfreerdp)
# Ports: 19420..19599, clear of `lab.sh up` (19389..19401), diagnose.sh (19600..) and the
# Rust harness (20000..32000).
PORT_LO=19420
PORT_HI=19599
# The name dead-first resolves (inside with-hosts.sh) to the dropping IPv6 address, then 127.0.0.1.
DEAD_NAME=rdpshim-bench-dead-first
DEAD_TIMEOUT=10

N=5 REBUILD=0 KEEP=0 RTTS="0 50 150" SAVE_BASELINE=0
while getopts "n:bkr:Bh" opt; do
    case "$opt" in
    r) RTTS=$OPTARG ;;
    B) SAVE_BASELINE=1 ;;
    *) bench_option "$opt" ;;
    esac
done
shift $((OPTIND - 1))
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "latency.sh: -n wants a positive integer" >&2; exit 2; }
for r in $RTTS; do
    [[ "$r" =~ ^[0-9]+$ ]] || { echo "latency.sh: -r wants round-trip times in ms" >&2; exit 2; }
done
KINDS=("$@")
((${#KINDS[@]})) || KINDS=("${DEFAULT_KINDS[@]}")

bench_need python3:python3 xfreerdp:freerdp2-x11 Xvfb:xvfb cargo:cargo unshare:util-linux
bench_binary
if ((REBUILD)) || [[ ! -x "$PROXY" ]]; then
    log "building the delaying proxy (cargo build --release -p rdpshim-lab --bin delay-proxy)"
    (cd "$ROOT" && cargo build --release -p rdpshim-lab --bin delay-proxy) >&2
fi
[[ -x "$PROXY" ]] || die "no delay-proxy at $PROXY"
bench_workdir rdpshim-bench-latency
mkdir -p "$WORK/home" "$WORK/cfg" "$WORK/proxy"
PROXY_PID=""
bench_cleanup_hook() {
    stop_proxy
    bench_stop_xvfb
}
bench_start_xvfb

# ---------------------------------------------------------------- the proxy

# start_proxy UPSTREAM RTT [LISTEN]: a delay-proxy in front of UPSTREAM; sets PROXY_ADDR and
# PROXY_LOG (its accepted/closed lines).
start_proxy() {
    local upstream=$1 rtt=$2 listen=${3:-} i
    PROXY_LOG="$WORK/proxy/$kind.$rtt.log"
    [[ -n "$listen" ]] || listen="127.0.0.1:$(bench_free_ports 1 "$PORT_LO" "$PORT_HI")"
    : >"$PROXY_LOG"
    "$PROXY" --upstream "$upstream" --rtt-ms "$rtt" --listen "$listen" >"$PROXY_LOG" 2>"$PROXY_LOG.err" &
    PROXY_PID=$!
    for ((i = 0; i < 100; i++)); do
        if grep -q '^listening ' "$PROXY_LOG"; then
            PROXY_ADDR=$(sed -n 's/^listening //p' "$PROXY_LOG")
            return 0
        fi
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.05
    done
    die "delay-proxy did not start: $(cat "$PROXY_LOG.err")"
}

stop_proxy() {
    if [[ -n "$PROXY_PID" ]]; then
        kill "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
        PROXY_PID=""
    fi
}

# proxy_settle: waits (up to 5 s) until every connection the proxy accepted has closed: the
# proxy delays the client's FIN like any other byte.
proxy_settle() {
    local i accepted closed
    for ((i = 0; i < 100; i++)); do
        accepted=$(grep -c '^accepted ' "$PROXY_LOG" || true)
        closed=$(grep -c '^closed ' "$PROXY_LOG" || true)
        ((closed >= accepted)) && return 0
        sleep 0.05
    done
    log "$kind: the proxy still has $((accepted - closed)) open connection(s)"
}

# ---------------------------------------------------------------- one measured run

CSV="$WORK/results.csv"
echo "server,rtt,mode,phase,run,ok,ms,wall_ms,attempts,connections,proxy_rt,proxy_rt_all,engine_rt,engine_rtt_ms,note" >"$CSV"

# rdpshim_cmd MODE: CMD for one rdpshim run in MODE against TARGET; CFG = its config dir.
rdpshim_cmd() {
    local mode=$1
    CMD=("$BIN" connect "$TARGET" --json)
    case "$mode" in
    direct)
        CMD+=(--no-fallback --no-save "${RDPSHIM_KNOBS[@]}")
        if [[ -n "$USERNAME" ]]; then CMD+=(--password-stdin); fi
        CFG="$WORK/cfg/empty"
        ;;
    warm)
        CMD+=(--no-save "${LOGIN[@]}")
        CFG="$WORK/cfg/$kind.$rtt.warm"
        ;;
    cold)
        CMD+=(--no-save "${LOGIN[@]}")
        CFG="$WORK/cfg/empty"
        ;;
    prime)
        CMD+=("${LOGIN[@]}")
        CFG="$WORK/cfg/$kind.$rtt.warm"
        ;;
    esac
    CMD+=("${TIMEOUT_ARGS[@]}")
    if [[ -n "$HOSTS" ]]; then CMD=("$ROOT/tests/lab/with-hosts.sh" "$HOSTS" "${CMD[@]}"); fi
}

# run_mode PHASE RUN MODE: one run against $kind at $rtt; appends one CSV row.
run_mode() {
    local phase=$1 run=$2 mode=$3
    local base="$WORK/runs/$kind.$rtt.$mode.$phase.$run"
    local t0 t1 rc=0 ok=0 ms="" attempts="" ert="" ertt="" note="" before stats
    before=$(grep -c '^accepted ' "$PROXY_LOG" || true)
    if [[ "$mode" == xfreerdp ]]; then
        local -a xcmd=(xfreerdp +auth-only /cert:ignore "${XF_KNOBS[@]}" "/v:$TARGET")
        if [[ -n "$HOSTS" ]]; then xcmd=("$ROOT/tests/lab/with-hosts.sh" "$HOSTS" "${xcmd[@]}"); fi
        t0=${EPOCHREALTIME/./}
        DISPLAY=$XDISPLAY HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" \
            timeout "$RUN_TIMEOUT" "${xcmd[@]}" </dev/null >"$base.log" 2>&1 || rc=$?
        t1=${EPOCHREALTIME/./}
        if ((rc == 0)) && grep -q 'Authentication only, exit status 0' "$base.log"; then
            ok=1
        else
            note="exit=$rc $(grep -o 'ERRCONNECT_[A-Z_]*' "$base.log" | head -n 1 || true)"
        fi
        ms=$(bench_elapsed_ms "$t0" "$t1")
    else
        rdpshim_cmd "$mode"
        mkdir -p "$CFG"
        t0=${EPOCHREALTIME/./}
        printf '%s\n' "$PASSWORD" |
            RDPSHIM_CONFIG_DIR="$CFG" RDPSHIM_NO_KEYRING=1 timeout "$RUN_TIMEOUT" "${CMD[@]}" \
                >"$base.json" 2>"$base.err" || rc=$?
        t1=${EPOCHREALTIME/./}
        local parsed outcome
        parsed=$(python3 "$SUMMARIZE" parse-json "$base.json") || parsed=$'no-json\t\t\t\t'
        IFS=$'\t' read -r outcome ms attempts ert ertt <<<"$parsed"
        if ((rc == 0)) && [[ "$outcome" == ok ]]; then ok=1; else note="exit=$rc outcome=${outcome:-none}"; fi
    fi
    proxy_settle
    # The proxy's counts for this run's connections (ids above `before`): how many, the round
    # trips of the last one (the one that connected), and of all of them.
    stats=$(awk -v from="$before" '
        /^closed / {
            id = 0; rt = 0
            for (i = 2; i <= NF; i++) {
                split($i, kv, "=")
                if (kv[1] == "id") id = kv[2] + 0
                if (kv[1] == "round_trips") rt = kv[2] + 0
            }
            if (id > from) { n++; all += rt; if (id > last) { last = id; lrt = rt } }
        }
        END { if (n) printf "%d,%d,%d", n, lrt, all; else printf "0,," }' "$PROXY_LOG")
    echo "$kind,$rtt,$mode,$phase,$run,$ok,$ms,$(bench_elapsed_ms "$t0" "$t1"),$attempts,$stats,$ert,$ertt,${note//,/;}" >>"$CSV"
    if ((!ok)) && [[ "$phase" != prime ]]; then log "$kind@${rtt}ms $mode $phase#$run failed: $note"; fi
}

# ---------------------------------------------------------------- per server

# start_servers KIND: the lab server(s) for KIND; sets UPSTREAM (what the proxy forwards to),
# LISTEN (where the proxy must listen, empty = anywhere), HOSTS (a hosts file for the client,
# empty = none), NAME_PORT (host:port the clients dial, without the proxy's port when empty).
start_servers() {
    local kind=$1
    HOSTS="" LISTEN="" DEAD_PORT=""
    if [[ "$kind" != dead-first ]]; then
        bench_start_lab "$kind" "$WORK/lab/$kind" "$PORT_LO" "$PORT_HI" || return 1
        UPSTREAM="$LAB_HOST:$LAB_PORT" USERNAME=$LAB_USER PASSWORD=$LAB_PASSWORD
        bench_knobs "$kind"
        return 0
    fi
    # A working xrdp-modern on 127.0.0.1:P2, and a netns-drop whose IPv6 address drops port P;
    # the proxy listens on 127.0.0.1:P and forwards to P2, so NAME:P reaches xrdp only on its
    # second address.
    bench_start_lab xrdp-modern "$WORK/lab/dead-first-live" "$PORT_LO" "$PORT_HI" || return 1
    UPSTREAM="$LAB_HOST:$LAB_PORT" USERNAME="" PASSWORD=""
    bench_start_lab netns-drop "$WORK/lab/dead-first-drop" "$PORT_LO" "$PORT_HI" || return 1
    local host6
    host6=$(tr ' ' '\n' <<<"$LAB_LINE" | sed -n 's/^host6=//p')
    if [[ -z "$host6" ]]; then
        LAB_ERROR="netns-drop printed no host6= (no IPv6 in network namespaces here)"
        return 1
    fi
    DEAD_PORT=$LAB_PORT
    LISTEN="127.0.0.1:$DEAD_PORT"
    HOSTS="$WORK/lab/dead-first.hosts"
    printf '%s %s\n127.0.0.1 %s\n' "$host6" "$DEAD_NAME" "$DEAD_NAME" >"$HOSTS"
    bench_knobs xrdp-modern
}

BENCH_T0=$SECONDS
LOAD_START=$(bench_loadavg)
mkdir -p "$WORK/cfg/empty"
for kind in "${KINDS[@]}"; do
    if ! start_servers "$kind"; then
        log "$kind: lab start failed: $LAB_ERROR"
        echo "$kind,,lab,start,0,0,,,,,,,,,lab start failed: ${LAB_ERROR//,/;}" >>"$CSV"
        continue
    fi
    LOGIN=()
    if [[ -n "$USERNAME" ]]; then LOGIN=(-u "$USERNAME" --password-stdin); fi
    TIMEOUT_ARGS=()
    if [[ "$kind" == dead-first ]]; then TIMEOUT_ARGS=(--timeout "$DEAD_TIMEOUT"); fi
    for rtt in $RTTS; do
        start_proxy "$UPSTREAM" "$rtt" "$LISTEN"
        if [[ "$kind" == dead-first ]]; then TARGET="$DEAD_NAME:$DEAD_PORT"; else TARGET=$PROXY_ADDR; fi
        log "$kind at ${rtt} ms RTT via $TARGET: warm-up + $N runs per mode"
        # The warm mode's profile: one unmeasured cold ladder that saves.
        run_mode prime 0 prime
        bench_rounds "$N" run_mode : "${MODES[@]}"
        stop_proxy
    done
    for d in "$WORK/lab/$kind" "$WORK/lab/$kind-live" "$WORK/lab/$kind-drop"; do
        [[ -d "$d" ]] && { "$LAB" stop "$d" >/dev/null 2>&1 || log "$kind: lab stop failed"; }
    done
done
LOAD_END=$(bench_loadavg)
ELAPSED=$((SECONDS - BENCH_T0))

# ---------------------------------------------------------------- report

META="$WORK/meta"
{
    bench_meta_run
    echo "rtts=$RTTS"
    echo "dead_timeout=$DEAD_TIMEOUT"
} >"$META"

if ((SAVE_BASELINE)); then
    python3 "$SUMMARIZE" baseline "$CSV" "$META" "$BASELINE"
    log "saved the baseline: $BASELINE"
fi
python3 "$SUMMARIZE" report "$CSV" "$META" "$BASELINE" >"$WORK/LATENCY.md"
cp "$WORK/LATENCY.md" "$BENCH_DIR/LATENCY.md"
cat "$WORK/LATENCY.md"
log "done in ${ELAPSED}s; wrote $BENCH_DIR/LATENCY.md"
