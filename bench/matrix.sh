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

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
LAB="$ROOT/tests/lab/lab.sh"
BIN=${RDPSHIM_BIN:-$ROOT/target/release/rdpshim}
RESULTS="$BENCH_DIR/MATRIX.md"
KINDS=(xrdp-modern xrdp-tls10 xrdp-aes128sha xrdp-expired)
TIMEOUT=5
DEAD_TIMEOUT=2

HOSTS_LIST="10 25 50 60"
JOBS_LIST="1 2 4 8 16"
N=3
DEAD=5
REBUILD=0
KEEP=0
while getopts "n:H:j:D:bkh" opt; do
    case "$opt" in
    n) N=$OPTARG ;;
    H) HOSTS_LIST=$OPTARG ;;
    j) JOBS_LIST=$OPTARG ;;
    D) DEAD=$OPTARG ;;
    b) REBUILD=1 ;;
    k) KEEP=1 ;;
    *)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
    esac
done
for n in $N $HOSTS_LIST $JOBS_LIST $DEAD; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "matrix.sh: numbers only: $n" >&2; exit 2; }
done
MAX_HOSTS=$(tr ' ' '\n' <<<"$HOSTS_LIST" | sort -n | tail -n 1)

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root (the lab needs it)"
if [[ ! -x /usr/bin/time ]]; then
    log "installing GNU time (apt package 'time') for peak RSS"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
command -v python3 >/dev/null || die "missing python3"
if ((REBUILD)) || [[ ! -x "$BIN" ]]; then
    log "building release binary (cargo build --release -p rdpshim)"
    (cd "$ROOT" && cargo build --release -p rdpshim) >&2
fi
"$BIN" matrix --list-configs >/dev/null 2>&1 || die "$BIN has no working 'matrix' subcommand (rebuild with -b)"

# Each idle xrdp takes ~10 MiB and grows by a fraction of a MiB per session it served.
avail_mib=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
need_mib=$(((MAX_HOSTS + DEAD) * 150))
((avail_mib > need_mib)) || die "$((MAX_HOSTS + DEAD)) servers may need ~$need_mib MiB; only $avail_mib MiB available"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rdpshim-matrix-bench.XXXXXX")
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

# N distinct ports, free on 127.0.0.1 now, below the ephemeral range (lab.sh wants < 32768).
free_ports() {
    python3 - "$1" <<'EOF'
import random, socket, sys
want, got = int(sys.argv[1]), []
for p in random.sample(range(20000, 32000), 12000):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    got.append(p)
    if len(got) == want:
        break
print(" ".join(map(str, got)))
EOF
}

# start_server KIND PORT NAME: sets ADDR to host:port, or to nothing when the start failed.
start_server() {
    local kind=$1 port=$2 dir="$WORK/lab/$3" line
    ADDR=""
    STARTED_DIRS+=("$dir")
    if ! line=$("$LAB" start "$kind" "$port" "$dir" 2>"$dir.err"); then
        log "$kind on $port did not start: $(tail -n 1 "$dir.err")"
        return 0
    fi
    ADDR="$(sed -n 's/.* host=\([^ ]*\).*/\1/p' <<<"$line"):$port"
}

log "starting $MAX_HOSTS xrdp servers (${KINDS[*]}, in turn)"
read -r -a PORTS <<<"$(free_ports $((MAX_HOSTS + DEAD)))"
((${#PORTS[@]} == MAX_HOSTS + DEAD)) || die "not enough free ports"
LIVE=()
T_START=$SECONDS
for ((i = 0; i < MAX_HOSTS; i++)); do
    kind=${KINDS[$((i % ${#KINDS[@]}))]}
    start_server "$kind" "${PORTS[$i]}" "live-$i-$kind"
    # By name, so by-name cells resolve as a client would and by-IP cells name 127.0.0.1.
    if [[ -n "$ADDR" ]]; then LIVE+=("localhost:${ADDR##*:}"); fi
done
((${#LIVE[@]} == MAX_HOSTS)) || die "only ${#LIVE[@]} of $MAX_HOSTS servers started"
DEADS=()
for ((i = 0; i < DEAD; i++)); do
    start_server netns-drop "${PORTS[$((MAX_HOSTS + i))]}" "dead-$i"
    if [[ -n "$ADDR" ]]; then DEADS+=("$ADDR"); fi
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
    parsed=$(python3 - "$base.json" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("0,0,0,0,-1"); raise SystemExit
s, c = d["summary"], d.get("comparison")
changed = -1 if c is None else len(c["changes"])
print(f'{s["cells"]},{s["ok"]},{s["not_ok"]},{s["not_dialled"]},{changed}')
EOF
)
    IFS=, read -r cells ok not_ok not_dialled changed <<<"$parsed"
    echo "$scenario,$run,$hosts,$dead,$jobs,$cells,$wall,$cpu,${rss:-0},$ok,$not_ok,$not_dialled,$changed,$rc" >>"$CSV"
    log "$scenario #$run hosts=$hosts dead=$dead jobs=$jobs: $cells cells in $wall s ($cpu s CPU), peak RSS ${rss:-?} KiB, exit $rc"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
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
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T_BENCH))

rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$ROOT" status --porcelain -- client profiles Cargo.toml Cargo.lock 2>/dev/null)" ]]; then
    rev="$rev+dirty"
fi
# Memory of the servers this script started (their pids files), after every run.
XRDP_RSS=$(for d in "${STARTED_DIRS[@]}"; do
    [[ -f "$d/pids" ]] && awk '{print $2}' "$d/pids"
done | while read -r pid; do
    awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true
done | awk '{s += $1} END {printf "%.0f", s / 1024}')
META="$WORK/meta"
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine=$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
    echo "loadavg=$LOAD_START (start) / $LOAD_END (end)"
    echo "rdpshim=$("$BIN" --version | head -n 1), git $rev, binary built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)"
    echo "xrdp=$(xrdp --version 2>/dev/null | head -n 1 || true)"
    echo "servers=$MAX_HOSTS xrdp (${KINDS[*]} in turn) + ${#DEADS[@]} netns-drop; these servers' processes together ${XRDP_RSS} MiB RSS at the end"
    echo "timeout=$TIMEOUT"
    echo "dead_timeout=$DEAD_TIMEOUT"
    echo "elapsed_s=$ELAPSED"
    echo "n=$N"
} >"$META"

SECTION="$WORK/section.md"
python3 - "$CSV" "$META" >"$SECTION" <<'EOF'
import csv, sys
import statistics
raw = list(csv.DictReader(open(sys.argv[1])))
meta = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[2]) if "=" in l)
# One row per (scenario, hosts, dead, jobs): median wall and CPU, largest RSS, worst "changed".
groups = {}
for r in raw:
    groups.setdefault((r["scenario"], r["hosts"], r["dead"], r["jobs"]), []).append(r)
rows = []
for runs in groups.values():
    row = dict(runs[0])
    row["wall_s"] = statistics.median(float(r["wall_s"]) for r in runs)
    row["cpu_s"] = statistics.median(float(r["cpu_s"]) for r in runs)
    row["rss_kib"] = max(float(r["rss_kib"]) for r in runs)
    row["changed"] = str(max(int(r["changed"]) for r in runs))
    row["rc"] = ",".join(sorted({r["rc"] for r in runs}))
    rows.append(row)
live = [r for r in rows if r["scenario"] == "live"]
f = lambda r, k: float(r[k])
print("## Matrix\n")
print("Generated by `bench/matrix.sh` (do not edit by hand; it replaces this section only).\n")
print(f"- Date: {meta['date']}; measured runs took {meta['elapsed_s']} s")
print(f"- Machine: {meta['machine']}; load average {meta['loadavg']}")
print(f"- rdpshim: {meta['rdpshim']}; servers: {meta['xrdp']}")
print(f"- Servers: {meta['servers']}, all on loopback, hosts given as `localhost:PORT`")
print(f"- Command: `rdpshim matrix --hosts-file HOSTS --jobs J --timeout {meta['timeout']} --json --baseline REFERENCE` "
      "(40 configurations per host, `--per-host 2` by default); wall = the whole process, peak RSS = GNU time `%M`; "
      f"median of {meta['n']} runs per row (interleaved), largest peak RSS, after an unmeasured reference run (`--jobs 8 --save-baseline REFERENCE`) per host count")
print("- *rdpshim CPU*: user + system time of the rdpshim process (the servers share the same 2 CPUs)")
print(f"- *changed*: cells whose result differs from the reference run (0 = concurrency changed no outcome)\n")
print("| hosts | cells | --jobs | wall s | cells/s | ms per cell | rdpshim CPU s | peak RSS MiB | ok | not ok | changed |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in live:
    cells = int(r["cells"]) or 1
    print(f"| {r['hosts']} | {r['cells']} | {r['jobs']} | {f(r,'wall_s'):.2f} | {cells / f(r,'wall_s'):.0f} | "
          f"{1000 * f(r,'wall_s') / cells:.1f} | {f(r,'cpu_s'):.2f} | {f(r,'rss_kib') / 1024:.1f} | {r['ok']} | {r['not_ok']} | {r['changed']} |")
if live:
    per_cell = statistics.median(1000 * f(r, "cpu_s") / int(r["cells"]) for r in live)
    print(f"\nrdpshim's own CPU: {per_cell:.2f} ms per cell (median over the rows); the rest of each cell's wall "
          "time is the servers' work (the xrdp processes share the same CPUs) and the network round trips.")
hosts = sorted({int(r["hosts"]) for r in live})
jobs = sorted({int(r["jobs"]) for r in live})
if len(hosts) > 1:
    print("\nHow cost grows with hosts (wall s per host; flat = linear growth):\n")
    print("| --jobs | " + " | ".join(f"{h} hosts" for h in hosts) + " |")
    print("|---|" + "---|" * len(hosts))
    for j in jobs:
        cells = []
        for h in hosts:
            r = next((r for r in live if int(r["hosts"]) == h and int(r["jobs"]) == j), None)
            cells.append("–" if r is None else f"{f(r,'wall_s') / h:.3f}")
        print(f"| {j} | " + " | ".join(cells) + " |")
dead = [r for r in rows if r["scenario"] == "dead"]
base = [r for r in rows if r["scenario"] == "alive"]
if dead and base:
    d, b = dead[0], base[0]
    print(f"\nDead hosts (`--timeout {meta['dead_timeout']}`, `--jobs 8`): {b['hosts']} live hosts alone took "
          f"{f(b,'wall_s'):.2f} s; with {d['dead']} host{'s' if d['dead'] != '1' else ''} behind iptables DROP added, {f(d,'wall_s'):.2f} s "
          f"(+{f(d,'wall_s') - f(b,'wall_s'):.2f} s) and {d['not_dialled']} cells not dialled: each dead host cost "
          f"one TCP timeout, not one per configuration ({int(d['dead']) * 40} cells x {meta['dead_timeout']} s would be "
          f"{int(d['dead']) * 40 * float(meta['dead_timeout']):.0f} s of timeouts).")
bad = [r for r in raw if r["rc"] != "0"]
if bad:
    print("\n**Runs with a non-zero exit** (8 = a cell regressed against the reference): " +
          ", ".join(f"{r['scenario']} hosts={r['hosts']} jobs={r['jobs']} run {r['run']} exit {r['rc']}" for r in bad))
EOF

# Its own file: bench/run.sh overwrites RESULTS.md whole.
{
    echo "# rdpshim matrix benchmark"
    echo
    cat "$SECTION"
} >"$RESULTS"
cat "$SECTION"
log "done; wrote $RESULTS"
