#!/usr/bin/env bash
# rdpshim attempts benchmark: how many attempts the ladder makes per lab server, cold (no
# profile) and warm (the profile the cold run saved), read from `connect --json`'s attempts.
#
#   bench/attempts.sh [-b] [-k] [-B BEFORE_BIN] [KIND...]
#     -b            rebuild target/release/rdpshim even if it exists
#     -k            keep the private work dir (every run's JSON and stderr) and print its path
#     -B BIN        also run BIN (e.g. a build of an earlier revision) on the same servers:
#                   its cold counts are the report's "before" column (BEFORE_LABEL names it
#                   in the report, e.g. "main at ff575a5")
#     KIND...       lab kinds to run (default: every kind `tests/lab/lab.sh kinds` lists)
#
# Attempt counts do not depend on timing, so one run per server and binary; RDPSHIM_BIN picks
# another binary than target/release/rdpshim (a debug build counts the same).
# Writes a markdown report to stdout and to bench/ATTEMPTS.md (overwritten).
# Needs root (the lab does), cargo, python3 and the lab's deps (tests/lab/install-deps.sh).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SUMMARIZE="$BENCH_DIR/summarize_attempts.py"
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-120}
# Ports: 19420..19599, clear of `lab.sh up` (19389..19409), diagnose.sh (19600..) and the
# Rust harness (20000..32000).
PORT_LO=19420
PORT_HI=19599

N=1 REBUILD=0 KEEP=0 BEFORE=""
while getopts "bkB:h" opt; do
    if [[ "$opt" == B ]]; then BEFORE=$OPTARG; else bench_option "$opt"; fi
done
shift $((OPTIND - 1))
KINDS=("$@")
if ((${#KINDS[@]} == 0)); then
    mapfile -t KINDS < <("$LAB" kinds | awk '{print $1}')
fi
if [[ -n "$BEFORE" && ! -x "$BEFORE" ]]; then
    echo "attempts.sh: -B $BEFORE is not an executable" >&2
    exit 2
fi

bench_need python3:python3 cargo:cargo
bench_binary connect --help
bench_workdir rdpshim-bench-attempts

# connect_run BIN LABEL MODE: one `connect --json` of $kind by BIN, its JSON and stderr in
# runs/KIND.LABEL.MODE.{json,err}; MODE cold (fresh config dir) or warm (the cold run's).
connect_run() {
    local bin=$1 label=$2 mode=$3
    local base="$WORK/runs/$kind.$label.$mode" config="$WORK/config/$kind.$label"
    local -a cmd=("$bin" connect "$TARGET" --json --timeout 3 --deadline 40)
    local -a wrap=() env=(RDPSHIM_CONFIG_DIR="$config" RDPSHIM_NO_KEYRING=1)
    [[ "$mode" == cold ]] && rm -rf -- "$config"
    mkdir -p "$config"
    [[ -n "$LAB_HOSTS" ]] && wrap=("$ROOT/tests/lab/with-hosts.sh" "$LAB_HOSTS")
    if [[ -n "$LAB_USER" ]]; then
        cmd+=(-u "$LAB_USER" --password-stdin)
    fi
    printf '%s\n' "${LAB_PASSWORD:-}" |
        env -u RDPSHIM_PASSWORD -u RUST_LOG "${env[@]}" timeout "$RUN_TIMEOUT" \
            "${wrap[@]}" "${cmd[@]}" >"$base.json" 2>"$base.err" || true
}

for kind in "${KINDS[@]}"; do
    log "$kind"
    dir="$WORK/lab/$kind"
    if ! bench_start_lab "$kind" "$dir" "$PORT_LO" "$PORT_HI"; then
        log "$kind: lab server did not start: $LAB_ERROR"
        echo "$LAB_ERROR" >"$WORK/runs/$kind.lab-error"
        continue
    fi
    # ipv6-first: the name that resolves to ::1 first, under its hosts file.
    LAB_HOSTS="" TARGET="$LAB_HOST:$LAB_PORT"
    [[ "$LAB_HOST" == *:* ]] && TARGET="[$LAB_HOST]:$LAB_PORT"
    if [[ -n "$LAB_NAME" ]]; then
        TARGET="$LAB_NAME:$LAB_PORT" LAB_HOSTS=$LAB_HOSTS_FILE
    fi
    connect_run "$BIN" after cold
    connect_run "$BIN" after warm
    if [[ -n "$BEFORE" ]]; then
        connect_run "$BEFORE" before cold
    fi
    "$LAB" stop "$dir" >/dev/null 2>&1 || true
done

{
    bench_meta_machine
    echo "before=${BEFORE:+${BEFORE_LABEL:-$BEFORE} ($("$BEFORE" --version 2>/dev/null | head -n 1))}"
    echo "kinds=${KINDS[*]}"
} >"$WORK/META"
python3 "$SUMMARIZE" report "$WORK" "$BENCH_DIR/ATTEMPTS.md"
