#!/usr/bin/env bash
# rdpshim bridge benchmark (loopback, real lab servers):
#  1. TCP connect -> first decoded frame for a client straight to the server and through
#     `rdpshim bridge` (the client is rdpshim connect itself, which reports its stage times);
#     the bridge's own share = what it adds beyond the server leg's own handshakes;
#  2. the bridge process's peak RSS and CPU over those sessions;
#  3. the splice alone (client/benches/bridge_splice.rs): MB/s through the bridge vs
#     straight, the bridge thread's CPU time per MB, RSS before/after.
#
#   bench/bridge.sh [-n N] [-m MB] [-r RUNS] [-b] [-k]
#     -n N     first-frame runs per path per server (default 30), after 1 warm-up each
#     -m MB    megabytes per splice run (default 512)
#     -r RUNS  splice runs per server-leg kind (default 3)
#     -b       rebuild the release binary even if it exists
#     -k       keep the private work dir (raw JSON, logs) and print its path
#
# Writes bench/BRIDGE.md (overwritten) and prints it. Needs root (the lab does), cargo,
# python3 and the lab's dependencies (tests/lab/install-deps.sh).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SUMMARIZE="$BENCH_DIR/summarize_bridge.py"
RESULTS="$BENCH_DIR/BRIDGE.md"
KINDS=(xrdp-modern xrdp-tls10 shadow-nla)

N=30 MB=512 RUNS=3 REBUILD=0 KEEP=0
while getopts "n:m:r:bkh" opt; do
    case "$opt" in
    m) MB=$OPTARG ;;
    r) RUNS=$OPTARG ;;
    *) bench_option "$opt" ;;
    esac
done
for v in "$N" "$MB" "$RUNS"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bridge.sh: -n, -m, -r want positive integers" >&2; exit 2; }
done

bench_need python3:python3
# Everything measured (lab servers, bridge, clients, splice bench) inherits this priority,
# so that other work on a shared machine delays it less; the report says so.
NICE=-10
renice -n "$NICE" -p $$ >/dev/null || NICE=0
bench_binary bridge --help
log "building the splice bench (cargo bench --no-run --bench bridge_splice)"
SPLICE=$(cd "$ROOT" && cargo bench --no-run --bench bridge_splice --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "bridge_splice" and m.get("executable"):
        print(m["executable"])')
[[ -x "$SPLICE" ]] || die "no splice bench executable"

bench_workdir rdpshim-bridge-bench
BRIDGE_PID=""
bench_cleanup_hook() {
    if [[ -n "$BRIDGE_PID" ]]; then kill "$BRIDGE_PID" 2>/dev/null || true; fi
}

export RDPSHIM_NO_KEYRING=1
unset RDPSHIM_PASSWORD RUST_LOG

# with_password CMD...: CMD with the lab server's password (if it has one) in
# RDPSHIM_PASSWORD, set for that command only and never in any argv.
with_password() {
    if [[ -n "$PASSWORD" ]]; then RDPSHIM_PASSWORD=$PASSWORD "$@"; else "$@"; fi
}

# client TARGET OUT ARGS...: one rdpshim connect to the first frame, JSON to OUT.
client() {
    local target=$1 out=$2
    shift 2
    RDPSHIM_CONFIG_DIR="$WORK/client-config" with_password \
        timeout 60 "$BIN" connect "$target" --no-fallback --json --no-save "$@" \
        </dev/null >"$out" 2>>"$WORK/client.err" || true
}

# One first-frame run for bench_rounds: TOOL `direct` (straight to the server) or `bridged`.
first_frame() {
    local phase=$1 run=$2 tool=$3 name
    name=$([[ $phase == warmup ]] && echo warmup || echo "$run")
    case "$tool" in
    direct) client "$SERVER" "$WORK/runs/$kind.direct.$name.json" "${DIRECT[@]}" ;;
    bridged) client "$LISTEN" "$WORK/runs/$kind.bridged.$name.json" "${THROUGH[@]}" ;;
    esac
}

T0=$SECONDS
LOAD_START=$(bench_loadavg)
for kind in "${KINDS[@]}"; do
    bench_start_lab "$kind" "$WORK/lab/$kind" 20000 32000 || die "$kind: lab start failed: $LAB_ERROR"
    SERVER="$LAB_HOST:$LAB_PORT"
    PASSWORD=$LAB_PASSWORD
    case "$kind" in
    xrdp-modern) DIRECT=(--nla off) THROUGH=(--nla off) BRIDGE_ARGS=() ;;
    xrdp-tls10) DIRECT=(--nla off --tls 1.0) THROUGH=(--nla off) BRIDGE_ARGS=() ;;
    shadow-nla)
        DIRECT=(--nla on -u "$LAB_USER")
        THROUGH=(--nla on -u "$LAB_USER")
        BRIDGE_ARGS=(-u "$LAB_USER")
        ;;
    esac

    log "$kind: starting the bridge"
    out="$WORK/runs/$kind.bridge.jsonl"
    # Not through with_password: $! must be the bridge itself (signalled, read in /proc).
    bridge=("$BIN" bridge "$SERVER" --json "${BRIDGE_ARGS[@]}")
    if [[ -n "$PASSWORD" ]]; then
        RDPSHIM_PASSWORD=$PASSWORD RDPSHIM_CONFIG_DIR="$WORK/bridge-config" "${bridge[@]}" \
            </dev/null >"$out" 2>"$WORK/runs/$kind.bridge.err" &
    else
        RDPSHIM_CONFIG_DIR="$WORK/bridge-config" "${bridge[@]}" \
            </dev/null >"$out" 2>"$WORK/runs/$kind.bridge.err" &
    fi
    BRIDGE_PID=$!
    LISTEN=""
    for _ in $(seq 1 200); do
        LISTEN=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    v = json.loads(l)
    if v.get("event") == "ready": print(v["listen"])' "$out" 2>/dev/null || true)
        [[ -n "$LISTEN" ]] && break
        kill -0 "$BRIDGE_PID" 2>/dev/null || die "$kind: the bridge exited: $(tail -n 3 "$WORK/runs/$kind.bridge.err")"
        sleep 0.1
    done
    [[ -n "$LISTEN" ]] || die "$kind: the bridge never got ready"
    # CPU ticks the bridge used for its own ladder connect, before any session.
    ticks0=$(awk '{print $14 + $15}' "/proc/$BRIDGE_PID/stat")

    log "$kind: $N runs per path (straight to $SERVER, through $LISTEN)"
    bench_rounds "$N" first_frame : direct bridged
    # Peak RSS (VmHWM, KiB) and CPU (utime+stime, clock ticks) of the bridge process over
    # the warm-up connect, the ladder and every session, read just before Ctrl-C.
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$BRIDGE_PID/status")
    ticks=$(awk '{print $14 + $15}' "/proc/$BRIDGE_PID/stat")
    echo "$hwm $ticks0 $ticks $(getconf CLK_TCK)" >"$WORK/runs/$kind.bridge.time"
    kill -INT "$BRIDGE_PID"
    wait "$BRIDGE_PID" || true
    BRIDGE_PID=""
    "$LAB" stop "$WORK/lab/$kind" >/dev/null 2>&1 || true
done

log "splice: $RUNS runs of $MB MB per server-leg kind"
"$SPLICE" "$MB" "$RUNS" >"$WORK/splice.jsonl"
LOAD_END=$(bench_loadavg)

{
    bench_meta_machine
    echo "seconds=$((SECONDS - T0))"
    echo "load_start=$LOAD_START"
    echo "load_end=$LOAD_END"
    echo "n=$N"
    echo "mb=$MB"
    echo "runs=$RUNS"
    echo "nice=$NICE"
} >"$WORK/meta"
python3 "$SUMMARIZE" "$WORK" >"$WORK/BRIDGE.md"
cp "$WORK/BRIDGE.md" "$RESULTS"
cat "$RESULTS"
