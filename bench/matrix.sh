#!/usr/bin/env bash
# rdpshim matrix benchmark: `rdpshim matrix` over many real lab servers (the xrdp kinds
# replicated on many loopback ports): wall time and peak RSS for several --jobs values and
# host counts, plus a run with dead hosts (iptables DROP) to show they cost one timeout.
#
#   bench/matrix.sh [-n N] [-H "10 25 50 60"] [-j "1 2 4 8 16"] [-D N] [-b] [-k]
#     -n N     measured runs per row, the median reported (default 3)
#     -H LIST  host counts (default "10 25 50 60"); servers started = the largest count
#     -j LIST  --jobs values (default "1 2 4 8 16")
#     -D N     dead hosts (netns-drop) added to the largest count for one more run (default 5; 0 skips)
#     -b       rebuild target/release/rdpshim even if it exists
#     -k       keep the private work dir (hosts files, JSON, baselines) and print its path
#
# Writes bench/MATRIX.md (overwritten) and prints it.
# Needs root (the lab does), cargo, python3, GNU time (/usr/bin/time, installed if missing) and the
# lab's dependencies (tests/lab/install-deps.sh). Stops every server it started, by its lab dir.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SUMMARIZE="$BENCH_DIR/summarize_matrix.py"
RESULTS="$BENCH_DIR/MATRIX.md"
KINDS=(xrdp-modern xrdp-tls10 xrdp-aes128sha xrdp-expired)
TIMEOUT=5
DEAD_TIMEOUT=2

HOSTS_LIST="10 25 50 60"
JOBS_LIST="1 2 4 8 16"
N=3 DEAD=5 REBUILD=0 KEEP=0
while getopts "n:H:j:D:bkh" opt; do
    case "$opt" in
    H) HOSTS_LIST=$OPTARG ;;
    j) JOBS_LIST=$OPTARG ;;
    D) DEAD=$OPTARG ;;
    *) bench_option "$opt" ;;
    esac
done
for n in $N $HOSTS_LIST $JOBS_LIST $DEAD; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "matrix.sh: numbers only: $n" >&2; exit 2; }
done
MAX_HOSTS=$(tr ' ' '\n' <<<"$HOSTS_LIST" | sort -n | tail -n 1)

bench_need python3:python3
bench_binary matrix --list-configs

# Each idle xrdp takes ~10 MiB and grows by a fraction of a MiB per session it served.
avail_mib=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
need_mib=$(((MAX_HOSTS + DEAD) * 150))
((avail_mib > need_mib)) || die "$((MAX_HOSTS + DEAD)) servers may need ~$need_mib MiB; only $avail_mib MiB available"

bench_workdir rdpshim-matrix-bench

log "starting $MAX_HOSTS xrdp servers (${KINDS[*]}, in turn)"
LIVE=()
T_START=$SECONDS
for ((i = 0; i < MAX_HOSTS; i++)); do
    kind=${KINDS[$((i % ${#KINDS[@]}))]}
    # By name, so by-name cells resolve as a client would and by-IP cells name 127.0.0.1.
    if bench_start_lab "$kind" "$WORK/lab/live-$i-$kind" 20000 32000; then
        LIVE+=("localhost:$LAB_PORT")
    else
        log "$kind did not start: $LAB_ERROR"
    fi
done
((${#LIVE[@]} == MAX_HOSTS)) || die "only ${#LIVE[@]} of $MAX_HOSTS servers started"
DEADS=()
for ((i = 0; i < DEAD; i++)); do
    if bench_start_lab netns-drop "$WORK/lab/dead-$i" 20000 32000; then
        DEADS+=("$LAB_HOST:$LAB_PORT")
    else
        log "netns-drop did not start: $LAB_ERROR"
    fi
done
log "servers up in $((SECONDS - T_START)) s"

CSV="$WORK/results.csv"
echo "scenario,run,hosts,dead,jobs,cells,wall_s,cpu_s,rss_kib,ok,not_ok,not_dialled,changed,rc" >"$CSV"

# measure SCENARIO RUN HOSTSFILE HOSTS DEAD JOBS TIMEOUT [EXTRA ARGS...]: one run, one CSV row.
measure() {
    local scenario=$1 run=$2 hosts_file=$3 hosts=$4 dead=$5 jobs=$6 timeout=$7
    shift 7
    local base="$WORK/runs/$scenario-h$hosts-d$dead-j$jobs-r$run" t0 t1 rc=0 wall rss cpu parsed
    t0=${EPOCHREALTIME/./}
    /usr/bin/time -f "%M %U %S" -o "$base.time" "$BIN" matrix --hosts-file "$hosts_file" --jobs "$jobs" \
        --timeout "$timeout" --json "$@" </dev/null >"$base.json" 2>"$base.err" || rc=$?
    t1=${EPOCHREALTIME/./}
    wall=$(((t1 - t0) / 1000000)).$(printf '%03d' $((((t1 - t0) / 1000) % 1000)))
    read -r rss user sys < <(tail -n 1 "$base.time")
    cpu=$(python3 -c "print(f'{$user + $sys:.2f}')")
    parsed=$(python3 "$SUMMARIZE" parse-json "$base.json")
    IFS=, read -r cells ok not_ok not_dialled changed <<<"$parsed"
    echo "$scenario,$run,$hosts,$dead,$jobs,$cells,$wall,$cpu,${rss:-0},$ok,$not_ok,$not_dialled,$changed,$rc" >>"$CSV"
    log "$scenario #$run hosts=$hosts dead=$dead jobs=$jobs: $cells cells in $wall s ($cpu s CPU), peak RSS ${rss:-?} KiB, exit $rc"
}

LOAD_START=$(bench_loadavg)
T_BENCH=$SECONDS
for hosts in $HOSTS_LIST; do
    file="$WORK/hosts-$hosts.txt"
    printf '%s\n' "${LIVE[@]:0:$hosts}" >"$file"
    # Reference table (not measured; also warms the servers): every measured run is then
    # compared with it, so "changed" shows whether concurrency changed any outcome.
    ref="$WORK/reference-$hosts.json"
    "$BIN" matrix --hosts-file "$file" --jobs 8 --timeout "$TIMEOUT" --save-baseline "$ref" \
        </dev/null >/dev/null 2>"$WORK/reference-$hosts.err" || die "reference run for $hosts hosts failed"
    # Runs interleaved (every --jobs value once, then again), so a burst of other work on
    # the machine does not land on one row's runs only.
    for ((run = 1; run <= N; run++)); do
        for jobs in $JOBS_LIST; do
            measure live "$run" "$file" "$hosts" 0 "$jobs" "$TIMEOUT" --baseline "$ref"
        done
    done
done
if ((${#DEADS[@]})); then
    file="$WORK/hosts-dead.txt"
    printf '%s\n' "${LIVE[@]}" "${DEADS[@]}" >"$file"
    for ((run = 1; run <= N; run++)); do
        measure alive "$run" "$WORK/hosts-$MAX_HOSTS.txt" "$MAX_HOSTS" 0 8 "$DEAD_TIMEOUT"
        measure dead "$run" "$file" "$MAX_HOSTS" "${#DEADS[@]}" 8 "$DEAD_TIMEOUT"
    done
fi
LOAD_END=$(bench_loadavg)
ELAPSED=$((SECONDS - T_BENCH))

# Memory of the servers this script started (their pids files), after every run.
XRDP_RSS=$(for d in "${STARTED_DIRS[@]}"; do
    [[ -f "$d/pids" ]] && awk '{print $2}' "$d/pids"
done | while read -r pid; do
    awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true
done | awk '{s += $1} END {printf "%.0f", s / 1024}')
META="$WORK/meta"
{
    bench_meta_machine
    echo "loadavg=$LOAD_START (start) / $LOAD_END (end)"
    echo "servers=$MAX_HOSTS xrdp (${KINDS[*]} in turn) + ${#DEADS[@]} netns-drop; these servers' processes together ${XRDP_RSS} MiB RSS at the end"
    echo "timeout=$TIMEOUT"
    echo "dead_timeout=$DEAD_TIMEOUT"
    echo "elapsed_s=$ELAPSED"
    echo "n=$N"
} >"$META"

SECTION="$WORK/section.md"
python3 "$SUMMARIZE" report "$CSV" "$META" >"$SECTION"

# Its own file: bench/run.sh overwrites RESULTS.md whole.
{
    echo "# rdpshim matrix benchmark"
    echo
    cat "$SECTION"
} >"$RESULTS"
cat "$SECTION"
log "done; wrote $RESULTS"
