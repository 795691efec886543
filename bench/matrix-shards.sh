#!/usr/bin/env bash
# `rdpshim matrix --shard K/N` + `rdpshim matrix merge` on a fleet of real lab servers: one
# whole run, the same hosts as N shards, the shards merged; the merged table must equal the
# whole run's (same cells, same outcomes, byte-identical baseline, same JUnit cases and
# failures). Times each run. Writes bench/MATRIX-SHARDS.md (overwritten) and prints it.
#
#   bench/matrix-shards.sh [-H HOSTS] [-s SHARDS] [-D DEAD] [-b] [-k]
#     -H HOSTS   live xrdp servers (default 52; kinds xrdp-modern, -tls10, -aes128sha, -expired)
#     -s SHARDS  N (default 4)
#     -D DEAD    hosts behind iptables DROP added to the list (default 2; a dead host must
#                still cost one timeout inside its shard)
#     -b         rebuild target/release/rdpshim even if it exists
#     -k         keep the work dir (hosts file, JSON, baselines, JUnit) and print its path
#
# The shards run one after another here (2 CPUs, shared with the servers); in CI each is a
# runner of its own, so the table gives each shard's time and the longest (the CI wall time
# of the matrix step) next to the whole run's. Needs root and the lab's dependencies
# (tests/lab/install-deps.sh); stops every server it started.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LAB="$ROOT/tests/lab/lab.sh"
BIN=${RDPSHIM_BIN:-$ROOT/target/release/rdpshim}
OUT="$HERE/MATRIX-SHARDS.md"
HOSTS=52 SHARDS=4 DEAD=2 REBUILD=0 KEEP=0
while getopts "H:s:D:bkh" opt; do
    case "$opt" in
    H) HOSTS=$OPTARG ;;
    s) SHARDS=$OPTARG ;;
    D) DEAD=$OPTARG ;;
    b) REBUILD=1 ;;
    k) KEEP=1 ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
for n in "$HOSTS" "$SHARDS" "$DEAD"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "matrix-shards.sh: numbers only: $n" >&2; exit 2; }
done
((SHARDS >= 1)) || { echo "matrix-shards.sh: -s must be 1 or more" >&2; exit 2; }
say() { echo "matrix-shards: $*" >&2; }

[[ $EUID -eq 0 ]] || { say "run as root (the lab needs it)"; exit 1; }
if ((REBUILD)) || [[ ! -x "$BIN" ]]; then
    say "cargo build --release -p rdpshim"
    (cd "$ROOT" && cargo build --release -p rdpshim) >&2
fi
"$BIN" matrix merge --help >/dev/null 2>&1 || { say "$BIN has no 'matrix merge' (rebuild with -b)"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rdpshim-shards.XXXXXX")
LABS=()
finish() {
    local rc=$? d
    for d in "${LABS[@]}"; do "$LAB" stop "$d" >/dev/null 2>&1 || true; done
    if ((KEEP)); then say "kept $WORK"; else rm -rf -- "$WORK"; fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# Ports free on 127.0.0.1 now, below the ephemeral range, in random order.
mapfile -t PORTS < <(python3 -c '
import random, socket, sys
n, out = int(sys.argv[1]), []
for p in random.sample(range(20000, 32000), 12000):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
    out.append(p)
    if len(out) == n:
        break
print("\n".join(map(str, out)))' $((HOSTS + DEAD)))
((${#PORTS[@]} == HOSTS + DEAD)) || { say "not enough free ports"; exit 1; }

KINDS=(xrdp-modern xrdp-tls10 xrdp-aes128sha xrdp-expired)
LIST="$WORK/hosts.txt"
: >"$LIST"
say "starting $HOSTS xrdp servers and $DEAD dead hosts"
t0=$SECONDS
for ((i = 0; i < HOSTS + DEAD; i++)); do
    # Kinds in blocks of N, so every shard (every Nth host) gets every kind.
    if ((i < HOSTS)); then kind=${KINDS[$(((i / SHARDS) % ${#KINDS[@]}))]}; else kind=netns-drop; fi
    dir="$WORK/lab-$i-$kind"
    LABS+=("$dir")
    line=$("$LAB" start "$kind" "${PORTS[$i]}" "$dir" 2>"$dir.err") ||
        { say "$kind on ${PORTS[$i]} did not start: $(tail -n 1 "$dir.err")"; exit 1; }
    host=$(sed -n 's/.* host=\([^ ]*\).*/\1/p' <<<"$line")
    # Live servers by name (by-name and by-IP cells differ); dead ones by their address.
    if [[ "$kind" == netns-drop ]]; then echo "$host:${PORTS[$i]}"; else echo "localhost:${PORTS[$i]}"; fi >>"$LIST"
done
say "servers up in $((SECONDS - t0)) s"

# timed NAME ARGS...: runs `rdpshim matrix ARGS...`, stdout to NAME.json; appends "NAME wall_s exit" to runs.txt.
timed() {
    local name=$1 start end rc=0
    shift
    start=${EPOCHREALTIME/./}
    "$BIN" matrix "$@" </dev/null >"$WORK/$name.json" 2>"$WORK/$name.err" || rc=$?
    end=${EPOCHREALTIME/./}
    echo "$name $(((end - start) / 1000)) $rc" >>"$WORK/runs.txt"
    say "$name: $(((end - start) / 1000)) ms, exit $rc"
}

timed whole --hosts-file "$LIST" --json --save-baseline "$WORK/whole.baseline.json" --junit "$WORK/whole.xml"
SHARD_FILES=()
for ((k = 1; k <= SHARDS; k++)); do
    timed "shard-$k" --hosts-file "$LIST" --shard "$k/$SHARDS" --json
    SHARD_FILES+=("$WORK/shard-$k.json")
done
timed merged merge "${SHARD_FILES[@]}" --json --save-baseline "$WORK/merged.baseline.json" --junit "$WORK/merged.xml"

python3 - "$WORK" "$SHARDS" "$("$BIN" --version | head -n 1)" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" >"$WORK/report.md" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
from datetime import datetime, timezone
work, shards, version, rev = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = {}
for line in open(f"{work}/runs.txt"):
    name, ms, rc = line.split()
    runs[name] = (int(ms) / 1000, int(rc))
load = lambda name: json.load(open(f"{work}/{name}.json"))
cells = lambda d: {(c["host"], c["configuration"]): (c["result"], c["stage"], c["dialled"]) for c in d["cells"]}
whole, merged = load("whole"), load("merged")
parts = [load(f"shard-{k}") for k in range(1, shards + 1)]
def junit(name):
    root = ET.parse(f"{work}/{name}.xml").getroot()
    return [(s.get("name"), c.get("name"), c.find("failure") is not None)
            for s in root.iter("testsuite") for c in s.iter("testcase")]
same_cells = cells(whole) == cells(merged)
same_order = [h["label"] for h in whole["hosts"]] == [h["label"] for h in merged["hosts"]]
same_baseline = open(f"{work}/whole.baseline.json", "rb").read() == open(f"{work}/merged.baseline.json", "rb").read()
same_junit = junit("whole") == junit("merged")
differing = [k for k in cells(whole) if cells(whole)[k] != cells(merged).get(k)]
ok = lambda d: d["summary"]["ok"]
row = lambda name, d, what: (f"| {what} | {len(d['hosts'])} | {d['summary']['cells']} | {ok(d)} | "
                             f"{d['summary']['not_ok']} | {d['summary']['not_dialled']} | {runs[name][0]:.2f} | {runs[name][1]} |")
print("# Sharded matrix: shards merged equal one run\n")
print("Generated by `bench/matrix-shards.sh` (do not edit by hand; it overwrites this file).\n")
print(f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}; {version}, git {rev}")
print(f"- Hosts: {len(whole['hosts'])} ({sum(1 for h in whole['hosts'] if not h['unreachable'])} live xrdp on loopback "
      f"by `localhost:PORT`, {sum(1 for h in whole['hosts'] if h['unreachable'])} behind iptables DROP), "
      f"{len(whole['configurations'])} configurations each, `--timeout 5`, `--jobs 8`")
print(f"- Shards: `--shard K/{shards}` (round robin over the host list), run one after another on this machine; "
      "in CI each is a runner of its own, so the matrix step takes the longest shard's time\n")
print("| run | hosts | cells | ok | not ok | not dialled | wall s | exit |")
print("|---|---|---|---|---|---|---|---|")
print(row("whole", whole, "one run"))
for k, d in enumerate(parts, 1):
    print(row(f"shard-{k}", d, f"shard {k}/{shards}"))
print(row("merged", merged, f"`matrix merge` of the {shards}"))
longest = max(runs[f"shard-{k}"][0] for k in range(1, shards + 1))
print(f"\nLongest shard: {longest:.2f} s against {runs['whole'][0]:.2f} s for one run "
      f"({runs['whole'][0] / longest:.1f}x); the merge itself: {runs['merged'][0]:.2f} s.\n")
dead = [h["label"] for h in whole["hosts"] if h["unreachable"]]
dialled = {h: sum(1 for d in parts for c in d["cells"] if c["host"] == h and c["dialled"]) for h in dead}
print("Equal to one run:\n")
print(f"- cells and outcomes (host x configuration -> result, stage, dialled): **{'same' if same_cells else 'DIFFERENT'}**"
      + ("" if same_cells else f" ({len(differing)} cells: {differing[:5]})"))
print(f"- host order: **{'same' if same_order else 'DIFFERENT'}**")
print(f"- baseline file (`--save-baseline`): **{'byte-identical' if same_baseline else 'DIFFERENT'}**")
print(f"- JUnit (suites, cases, failures; times differ): **{'same' if same_junit else 'DIFFERENT'}**")
if dead:
    print(f"- dead hosts dialled once each inside their shard: {', '.join(f'{h}: {n}' for h, n in dialled.items())}")
EOF
cp "$WORK/report.md" "$OUT"
cat "$OUT"
say "wrote $OUT"
grep -q 'DIFFERENT' "$OUT" && { say "the merged run differs from the whole run"; exit 1; }
exit 0
