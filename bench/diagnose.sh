#!/usr/bin/env bash
# rdpshim diagnose benchmark: `rdpshim diagnose` vs `sslscan --rdp` and nmap's rdp-enum-encryption
# against real lab servers (loopback).
#
#   bench/diagnose.sh [-n N] [-b] [-k] [-w SECS] [KIND...]
#     -n N     measured runs per tool per server (default 5), after 1 warm-up each
#     -b       rebuild target/release/rdpshim even if it exists
#     -k       keep the private work dir (raw CSV, JSON, tool output) and print its path
#     -w SECS  before each server, wait up to SECS (default 0) for the 1-minute load average
#              to fall below the number of CPUs (a shared machine); the report notes the load
#     KIND...  lab kinds to run (default: the five below)
#
# Writes a markdown report to stdout and to bench/DIAGNOSE.md (overwritten).
# Needs root (the lab does), and: cargo, python3, sslscan, nmap (tests/lab/install-deps.sh),
# GNU time as /usr/bin/time (apt package `time`, installed here if missing).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SUMMARIZE="$BENCH_DIR/summarize_diagnose.py"
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-120}
DEFAULT_KINDS=(xrdp-modern xrdp-tls10 xrdp-aes128sha shadow-nla shadow-tls)
# Ports: 19600..19999, clear of `lab.sh up` (19389..) and of the Rust harness (20000..32000).
PORT_LO=19600
PORT_HI=19999

N=5 REBUILD=0 KEEP=0 WAIT_LOAD=0
while getopts "n:bkw:h" opt; do
    if [[ "$opt" == w ]]; then WAIT_LOAD=$OPTARG; else bench_option "$opt"; fi
done
shift $((OPTIND - 1))
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "diagnose.sh: -n wants a positive integer" >&2; exit 2; }
[[ "$WAIT_LOAD" =~ ^[0-9]+$ ]] || { echo "diagnose.sh: -w wants seconds" >&2; exit 2; }
KINDS=("$@")
((${#KINDS[@]})) || KINDS=("${DEFAULT_KINDS[@]}")

bench_need python3:python3 sslscan:sslscan nmap:nmap cargo:cargo
bench_binary diagnose --help
bench_workdir rdpshim-bench-diagnose

# ---------------------------------------------------------------- the tools

# Tool names (CSV column `tool`) and their command lines; HOST/PORT are set per server.
TOOLS=(rdpshim rdpshim-c4 sslscan nmap)
tool_cmd() {
    case "$1" in
    rdpshim) CMD=("$BIN" diagnose --json "$HOST:$PORT") ;;
    rdpshim-c4) CMD=("$BIN" diagnose --json --connections 4 "$HOST:$PORT") ;;
    sslscan) CMD=(sslscan --rdp --no-colour "$HOST:$PORT") ;;
    nmap) CMD=(nmap -Pn -n -p "$PORT" --script +rdp-enum-encryption "$HOST") ;;
    esac
}

CSV="$WORK/results.csv"
echo "server,tool,phase,run,rc,ok,wall_ms,time_e,rss_kb,handshakes,found,inner_ms,note" >"$CSV"

# run_tool PHASE RUN TOOL: runs one tool once against the server $kind, appends one CSV row.
# Wall clock = bash's $EPOCHREALTIME (microseconds, no fork) right around `/usr/bin/time CMD`;
# GNU time's own `%e %M` (10 ms resolution wall, peak RSS KiB) is recorded too.
run_tool() {
    local server=$kind phase=$1 run=$2 tool=$3
    local base="$WORK/runs/$server.$tool.$phase.$run"
    local t0 t1 rc=0 ok=0 te="" rss="" hs="" found="" inner="" note="" wall
    tool_cmd "$tool"
    printf '%q ' "${CMD[@]}" >"$base.cmd"
    t0=${EPOCHREALTIME/./}
    timeout "$RUN_TIMEOUT" /usr/bin/time -f '%e %M' -o "$base.time" "${CMD[@]}" \
        </dev/null >"$base.out" 2>"$base.err" || rc=$?
    t1=${EPOCHREALTIME/./}
    read -r te rss < <(tail -n 1 "$base.time" 2>/dev/null) || true
    [[ "$te" =~ ^[0-9.]+$ ]] || te=""
    [[ "$rss" =~ ^[0-9]+$ ]] || rss=""
    wall=$(bench_elapsed_ms "$t0" "$t1")
    case "$tool" in
    rdpshim*)
        # 0 = no cause found, 4 = at least one cause found: both are complete diagnoses.
        local parsed
        parsed=$(python3 "$SUMMARIZE" parse-json "$base.out") || parsed=$'error\t\t\t'
        IFS=$'\t' read -r note hs found inner <<<"$parsed"
        if [[ "$note" == ok ]] && ((rc == 0 || rc == 4)); then ok=1; note=""; else note="exit=$rc json=$note"; fi
        ;;
    sslscan)
        if ((rc == 0)) && grep -q 'SSL/TLS Protocols' "$base.out"; then ok=1; else note="exit=$rc"; fi
        ;;
    nmap)
        # nmap exits 0 even when the script throws; record whether it printed its layers.
        if ((rc == 0)) && grep -q "rdp-enum-encryption" "$base.out"; then ok=1; else note="exit=$rc"; fi
        if grep -q 'Script execution failed' "$base.out"; then
            note="script error"
        elif grep -q 'Security layer' "$base.out"; then
            note="script ok"
        fi
        ;;
    esac
    echo "$server,$tool,$phase,$run,$rc,$ok,$wall,$te,$rss,$hs,${found//,/;},$inner,${note//,/;}" >>"$CSV"
    if ((!ok)); then log "$server $tool $phase#$run failed: $note"; fi
}

# compare_run PHASE RUN, after a round of all tools on $kind: rdpshim's TLS findings vs the
# same round's sslscan.
compare_run() {
    local server=$kind phase=$1 run=$2 tool res
    local ssl="$WORK/runs/$server.sslscan.$phase.$run.out"
    for tool in rdpshim rdpshim-c4; do
        res=$(python3 "$SUMMARIZE" compare "$WORK/runs/$server.$tool.$phase.$run.out" "$ssl") ||
            res="compare failed"
        printf '%s\t%s\t%s\t%s\t%s\n' "$server" "$tool" "$phase" "$run" "$res" >>"$WORK/compare.tsv"
    done
}

# ---------------------------------------------------------------- per server

# Wait up to WAIT_LOAD seconds for the 1-minute load average to drop below nproc; sets WAITED.
wait_for_quiet() {
    local load
    WAITED=0
    while ((WAITED < WAIT_LOAD)); do
        load=$(cut -d' ' -f1 /proc/loadavg)
        (( ${load%.*} < $(nproc) )) && return 0
        ((WAITED == 0)) && log "load average $load >= $(nproc) CPUs: waiting up to ${WAIT_LOAD}s"
        sleep 10
        WAITED=$((WAITED + 10))
    done
}

BENCH_T0=$SECONDS
LOAD_START=$(bench_loadavg)
: >"$WORK/compare.tsv"
: >"$WORK/loads"
for kind in "${KINDS[@]}"; do
    if ! bench_start_lab "$kind" "$WORK/lab/$kind" "$PORT_LO" "$PORT_HI"; then
        log "$kind: lab start failed: $LAB_ERROR"
        echo "$kind,lab,start,0,,0,,,,,,,lab start failed: $LAB_ERROR" >>"$CSV"
        continue
    fi
    HOST=$LAB_HOST PORT=$LAB_PORT
    wait_for_quiet
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    log "$kind on $HOST:$PORT: warm-up + $N runs per tool"
    bench_rounds "$N" run_tool compare_run "${TOOLS[@]}"
    "$LAB" stop "$WORK/lab/$kind" >/dev/null 2>&1 || log "$kind: lab stop failed"
    echo "$kind $load_before $(cut -d' ' -f1 /proc/loadavg) $WAITED" >>"$WORK/loads"
done
LOAD_END=$(bench_loadavg)
ELAPSED=$((SECONDS - BENCH_T0))

# ---------------------------------------------------------------- report

META="$WORK/meta"
{
    bench_meta_machine
    echo "loadavg=$LOAD_START (script start) / $LOAD_END (end)"
    echo "loads_per_server=$(tr '\n' ';' <"$WORK/loads")"
    echo "sslscan=$(sslscan --version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | tr -s ' \t\n' ' ' | sed 's/^ //;s/ $//')"
    echo "nmap=$(nmap --version 2>/dev/null | head -n 1)"
    echo "n=$N"
    echo "elapsed_s=$ELAPSED"
    for tool in "${TOOLS[@]}"; do
        HOST=127.0.0.1 PORT=PORT tool_cmd "$tool"
        echo "cmd_$tool=${CMD[*]/#$BIN/target/release/rdpshim}"
    done
} >"$META"

python3 "$SUMMARIZE" report "$CSV" "$WORK/compare.tsv" "$META" >"$WORK/DIAGNOSE.md"
cp "$WORK/DIAGNOSE.md" "$BENCH_DIR/DIAGNOSE.md"
cat "$WORK/DIAGNOSE.md"
log "done in ${ELAPSED}s; wrote $BENCH_DIR/DIAGNOSE.md"
