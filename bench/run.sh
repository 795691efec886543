#!/usr/bin/env bash
# rdpshim benchmark: rdpshim vs FreeRDP's xfreerdp against the real lab servers (loopback).
#
#   bench/run.sh [-n N] [-b] [-k] [KIND...]
#     -n N     measured runs per client per server (default 10), after 1 warm-up each
#     -b       rebuild target/release/rdpshim even if it exists
#     -k       keep the private work dir (raw CSV, JSON, logs) and print its path
#     KIND...  lab kinds to run (default: the six below)
#
# Writes a markdown report to stdout and to bench/RESULTS.md (overwritten).
# Needs root (the lab does), and: cargo, python3, xfreerdp (freerdp2-x11), Xvfb (xvfb),
# GNU time as /usr/bin/time (apt package `time`, installed here if missing), and the lab's
# own dependencies (tests/lab/install-deps.sh).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SUMMARIZE="$BENCH_DIR/summarize.py"
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-60}
DEFAULT_KINDS=(xrdp-modern xrdp-tls10 xrdp-aes128sha xrdp-expired shadow-nla shadow-tls)

N=10 REBUILD=0 KEEP=0
while getopts "n:bkh" opt; do bench_option "$opt"; done
shift $((OPTIND - 1))
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -n wants a positive integer" >&2; exit 2; }
KINDS=("$@")
((${#KINDS[@]})) || KINDS=("${DEFAULT_KINDS[@]}")

bench_need python3:python3 xfreerdp:freerdp2-x11 Xvfb:xvfb cargo:cargo
bench_binary
bench_workdir rdpshim-bench
mkdir -p "$WORK/home"
bench_cleanup_hook() { bench_stop_xvfb; }
bench_start_xvfb

# ---------------------------------------------------------------- one measured run


CSV="$WORK/results.csv"
echo "server,client,phase,run,ok,first_frame_ms,wall_ms,rss_kb,stages,note" >"$CSV"

# run_client PHASE RUN CLIENT: runs one attempt against the server $kind, appends one CSV row.
# Wall clock = bash's $EPOCHREALTIME (microseconds, read without a fork) right around
# `/usr/bin/time CMD` (so it includes only time's own fork/exec, well under 1 ms); peak RSS = GNU time %M of the client process (KiB).
run_client() {
    local server=$kind phase=$1 run=$2 client=$3
    local base="$WORK/runs/$server.$client.$phase.$run"
    local t0 t1 rc=0 ok=0 ff="" stages="" note="" rss wall
    local -a cmd
    if [[ "$client" == rdpshim ]]; then
        cmd=("$BIN" connect "$HOST:$PORT" --no-fallback --json "${RDPSHIM_KNOBS[@]}")
        t0=${EPOCHREALTIME/./}
        if [[ -n "$PASSWORD" ]]; then
            printf '%s\n' "$PASSWORD" |
                timeout "$RUN_TIMEOUT" /usr/bin/time -f %M -o "$base.time" "${cmd[@]}" --password-stdin \
                    >"$base.json" 2>"$base.err" || rc=$?
        else
            timeout "$RUN_TIMEOUT" /usr/bin/time -f %M -o "$base.time" "${cmd[@]}" \
                </dev/null >"$base.json" 2>"$base.err" || rc=$?
        fi
        t1=${EPOCHREALTIME/./}
        local parsed
        parsed=$(python3 "$SUMMARIZE" parse-json "$base.json") || parsed=$'error\t\t'
        IFS=$'\t' read -r note ff stages <<<"$parsed"
        if ((rc == 0)) && [[ "$note" == ok ]]; then ok=1; note=""; else note="exit=$rc outcome=${note:-none}"; fi
    else
        cmd=(xfreerdp +auth-only /cert:ignore "${XF_KNOBS[@]}" "/v:$HOST:$PORT")
        t0=${EPOCHREALTIME/./}
        DISPLAY=$XDISPLAY HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" \
            timeout "$RUN_TIMEOUT" /usr/bin/time -f %M -o "$base.time" "${cmd[@]}" \
            </dev/null >"$base.log" 2>&1 || rc=$?
        t1=${EPOCHREALTIME/./}
        if ((rc == 0)) && grep -q 'Authentication only, exit status 0' "$base.log"; then
            ok=1
        else
            note="exit=$rc $(grep -o 'ERRCONNECT_[A-Z_]*' "$base.log" | head -n 1 || true)"
        fi
    fi
    rss=$(tail -n 1 "$base.time" 2>/dev/null | tr -dc 0-9)
    wall=$(bench_elapsed_ms "$t0" "$t1")
    echo "$server,$client,$phase,$run,$ok,$ff,$wall,${rss:-},$stages,${note//,/;}" >>"$CSV"
    if ((!ok)); then log "$server $client $phase#$run failed: $note"; fi
}

# ---------------------------------------------------------------- per server

BENCH_T0=$SECONDS
LOAD_START=$(bench_loadavg)
for kind in "${KINDS[@]}"; do
    if ! bench_start_lab "$kind" "$WORK/lab/$kind" 20000 32000; then
        log "$kind: lab start failed: $LAB_ERROR"
        echo "$kind,lab,start,0,0,,,,,lab start failed: $LAB_ERROR" >>"$CSV"
        continue
    fi
    HOST=$LAB_HOST PORT=$LAB_PORT USERNAME=$LAB_USER PASSWORD=$LAB_PASSWORD
    bench_knobs "$kind"
    log "$kind on $HOST:$PORT: warm-up + $N runs per client"
    # Warm-up rdpshim then xfreerdp; then the two alternate which goes first, so neither
    # always follows the other's teardown.
    bench_rounds "$N" run_client : rdpshim xfreerdp
    "$LAB" stop "$WORK/lab/$kind" >/dev/null 2>&1 || log "$kind: lab stop failed"
done
LOAD_END=$(bench_loadavg)
ELAPSED=$((SECONDS - BENCH_T0))

# ---------------------------------------------------------------- report

META="$WORK/meta"
bench_meta_run >"$META"

python3 "$SUMMARIZE" report "$CSV" "$META" >"$WORK/RESULTS.md"
cp "$WORK/RESULTS.md" "$BENCH_DIR/RESULTS.md"
cat "$WORK/RESULTS.md"
log "done in ${ELAPSED}s; wrote $BENCH_DIR/RESULTS.md"
