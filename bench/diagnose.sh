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

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
LAB="$ROOT/tests/lab/lab.sh"
SUMMARIZE="$BENCH_DIR/summarize_diagnose.py"
BIN=${RDPSHIM_BIN:-$ROOT/target/release/rdpshim}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-120}
DEFAULT_KINDS=(xrdp-modern xrdp-tls10 xrdp-aes128sha shadow-nla shadow-tls)
# Ports: 19600..19999, clear of `lab.sh up` (19389..) and of the Rust harness (20000..32000).
PORT_LO=19600
PORT_HI=19999

N=5
REBUILD=0
KEEP=0
WAIT_LOAD=0
while getopts "n:bkw:h" opt; do
    case "$opt" in
    n) N=$OPTARG ;;
    w) WAIT_LOAD=$OPTARG ;;
    b) REBUILD=1 ;;
    k) KEEP=1 ;;
    *)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
    esac
done
shift $((OPTIND - 1))
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "diagnose.sh: -n wants a positive integer" >&2; exit 2; }
[[ "$WAIT_LOAD" =~ ^[0-9]+$ ]] || { echo "diagnose.sh: -w wants seconds" >&2; exit 2; }
KINDS=("$@")
((${#KINDS[@]})) || KINDS=("${DEFAULT_KINDS[@]}")

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------- dependencies

[[ $EUID -eq 0 ]] || die "must run as root (the lab needs it)"
if [[ ! -x /usr/bin/time ]]; then
    log "installing GNU time (apt package 'time') for peak RSS"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
for need in python3:python3 sslscan:sslscan nmap:nmap cargo:cargo; do
    command -v "${need%%:*}" >/dev/null ||
        die "missing ${need%%:*} (Debian package ${need#*:}; lab deps: tests/lab/install-deps.sh)"
done
[[ -x "$LAB" ]] || die "no lab script at $LAB"

if ((REBUILD)) || [[ ! -x "$BIN" ]]; then
    log "building release binary (cargo build --release -p rdpshim)"
    (cd "$ROOT" && cargo build --release -p rdpshim) >&2
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"
"$BIN" diagnose --help >/dev/null 2>&1 || die "$BIN has no diagnose subcommand (rebuild with -b)"

# ---------------------------------------------------------------- private state + cleanup

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rdpshim-bench-diagnose.XXXXXX")
mkdir -p "$WORK/lab" "$WORK/runs"
STARTED_DIRS=()

cleanup() {
    local rc=$? d
    for d in "${STARTED_DIRS[@]}"; do "$LAB" stop "$d" >/dev/null 2>&1 || true; done
    if ((KEEP)); then log "work dir kept: $WORK"; else rm -rf -- "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on 127.0.0.1 in PORT_LO..PORT_HI (lab.sh wants < 32768).
free_port() {
    python3 - "$PORT_LO" "$PORT_HI" <<'EOF'
import random, socket, sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
for _ in range(200):
    p = random.randint(lo, hi)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("no free port")
EOF
}

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

# run_tool SERVER TOOL PHASE RUN: runs one tool once, appends one CSV row.
# Wall clock = bash's $EPOCHREALTIME (microseconds, no fork) right around `/usr/bin/time CMD`;
# GNU time's own `%e %M` (10 ms resolution wall, peak RSS KiB) is recorded too.
run_tool() {
    local server=$1 tool=$2 phase=$3 run=$4
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
    wall=$(((t1 - t0) / 1000)).$((((t1 - t0) % 1000) / 100))
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

# After run RUN of all tools on SERVER: rdpshim's TLS findings vs the same run's sslscan.
compare_run() {
    local server=$1 phase=$2 run=$3 tool res
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
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$WORK/compare.tsv"
: >"$WORK/loads"
for kind in "${KINDS[@]}"; do
    dir="$WORK/lab/$kind"
    line=""
    STARTED_DIRS+=("$dir")
    for _ in 1 2 3; do
        port=$(free_port)
        if line=$("$LAB" start "$kind" "$port" "$dir" 2>"$WORK/lab/$kind.err"); then break; fi
        "$LAB" stop "$dir" >/dev/null 2>&1 || true
        line=""
    done
    if [[ -z "$line" ]]; then
        reason=$(tail -n 1 "$WORK/lab/$kind.err" | tr ',' ';')
        log "$kind: lab start failed: $reason"
        echo "$kind,lab,start,0,,0,,,,,,,lab start failed: $reason" >>"$CSV"
        continue
    fi
    declare -A KV=()
    for w in $line; do KV[${w%%=*}]=${w#*=}; done
    HOST=${KV[host]} PORT=${KV[port]}
    unset KV
    wait_for_quiet
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    log "$kind on $HOST:$PORT: warm-up + $N runs per tool"
    for tool in "${TOOLS[@]}"; do run_tool "$kind" "$tool" warmup 0; done
    compare_run "$kind" warmup 0
    for ((i = 1; i <= N; i++)); do
        # Rotate the order each run, so no tool always follows the same one's teardown.
        for ((j = 0; j < ${#TOOLS[@]}; j++)); do
            run_tool "$kind" "${TOOLS[(i + j) % ${#TOOLS[@]}]}" run "$i"
        done
        compare_run "$kind" run "$i"
    done
    "$LAB" stop "$dir" >/dev/null 2>&1 || log "$kind: lab stop failed"
    echo "$kind $load_before $(cut -d' ' -f1 /proc/loadavg) $WAITED" >>"$WORK/loads"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - BENCH_T0))

# ---------------------------------------------------------------- report

rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$ROOT" status --porcelain -- client profiles Cargo.toml Cargo.lock 2>/dev/null)" ]]; then
    rev="$rev+dirty"
fi
META="$WORK/meta"
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc=$(nproc)"
    echo "kernel=$(uname -sr)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "loadavg=$LOAD_START (script start) / $LOAD_END (end)"
    echo "loads_per_server=$(tr '\n' ';' <"$WORK/loads")"
    echo "rdpshim=$("$BIN" --version 2>/dev/null | head -n 1), git $rev, binary built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)"
    echo "sslscan=$(sslscan --version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | tr -s ' \t\n' ' ' | sed 's/^ //;s/ $//')"
    echo "nmap=$(nmap --version 2>/dev/null | head -n 1)"
    echo "xrdp=$(xrdp --version 2>/dev/null | head -n 1 || true)"
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
