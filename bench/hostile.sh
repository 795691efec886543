#!/usr/bin/env bash
# rdpshim against hostile servers: wall time and peak RSS of one run per hostile mode of the
# test acceptor (tests/acceptor: drips, truncations, floods, lengths at the boundaries, bad
# certificates, bad X.224 answers, resets), for `connect` and `diagnose`.
#
#   bench/hostile.sh [-b] [-k] [-t SECONDS] [-o FILE]
#     -b          rebuild the release binaries even if they exist
#     -k          keep the private work dir and print its path
#     -t SECONDS  --timeout given to rdpshim (default 3)
#     -o FILE     also write the markdown table to FILE
#
# RDPSHIM_BIN=path/to/rdpshim measures another build (e.g. an older commit's) with the same
# servers. Needs cargo, python3 and GNU time (/usr/bin/time, apt package `time`, installed
# here if missing). No lab and no root: the acceptor runs on loopback.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ACCEPTOR=${RDPSHIM_ACCEPTOR_BIN:-$ROOT/target/release/rdpshim-test-acceptor}

TIMEOUT=3 REBUILD=0 KEEP=0 OUT=
while getopts "bkt:o:h" opt; do
    case "$opt" in
    t) TIMEOUT=$OPTARG ;;
    o) OUT=$OPTARG ;;
    *) bench_option "$opt" ;;
    esac
done

bench_gnu_time
if ((REBUILD)) || [[ ! -x "$ACCEPTOR" ]]; then
    (cd "$ROOT" && cargo build --release -p rdpshim-test-acceptor >&2)
fi
bench_binary --version
bench_workdir rdpshim-bench-hostile
APID=
bench_cleanup_hook() { [[ -z "$APID" ]] || kill "$APID" 2>/dev/null; }

# name | acceptor arguments | rdpshim arguments (ADDR is replaced by the server's address)
NLA="--security nla --user u --password p"
CONNECT="connect ADDR --json --no-fallback --timeout $TIMEOUT"
CONNECT_NLA="$CONNECT -u u --password-stdin"
CASES=(
    "x224 drip|--mode drip --at x224|$CONNECT"
    "x224 truncate|--mode truncate --at x224|$CONNECT"
    "x224 flood|--mode flood --at x224|$CONNECT"
    "x224 TPKT length 0|--mode header --at x224 --header 03000000|$CONNECT"
    "x224 TPKT length 3|--mode header --at x224 --header 03000003|$CONNECT"
    "x224 TPKT length 4|--mode header --at x224 --header 03000004|$CONNECT"
    "x224 TPKT length 65535 + flood|--mode header --at x224 --header 0300ffff|$CONNECT"
    "x224 garbage|--mode garbage-x224|$CONNECT"
    "x224 selects 0x3 (--nla off)|--mode bad-selected-protocol --selected 0x3|$CONNECT --nla off"
    "x224 selects 0x7FFFFFFF|--mode bad-selected-protocol --selected 0x7fffffff $NLA|$CONNECT_NLA"
    "x224 selects TLS, NLA asked|--mode bad-selected-protocol --selected 0x1 $NLA|$CONNECT_NLA"
    "reset after accept|--mode reset-after-accept|$CONNECT"
    "reset after X.224 request|--mode reset-after-request|$CONNECT"
    "tls drip|--mode drip --at tls|$CONNECT --nla off"
    "tls truncate|--mode truncate --at tls|$CONNECT --nla off"
    "tls flood|--mode flood --at tls|$CONNECT --nla off"
    "certificate: invalid dates (ladder)|--mode bad-certificate --certificate invalid-dates|connect ADDR --json --timeout $TIMEOUT --nla off"
    "certificate: garbage DER (ladder)|--mode bad-certificate --certificate garbage-der|connect ADDR --json --timeout $TIMEOUT --nla off"
    "certificate: 200 KB chain (ladder)|--mode bad-certificate --certificate oversized-chain|connect ADDR --json --timeout $TIMEOUT --nla off"
    "credssp drip|--mode drip --at credssp $NLA|$CONNECT_NLA"
    "credssp truncate|--mode truncate --at credssp $NLA|$CONNECT_NLA"
    "credssp flood|--mode flood --at credssp $NLA|$CONNECT_NLA"
    "credssp DER 0x84 7FFFFFFF + flood|--mode header --at credssp --header 30847fffffff $NLA|$CONNECT_NLA"
    "credssp DER 0x83 010000 + flood|--mode header --at credssp --header 3083010000 $NLA|$CONNECT_NLA"
    "credssp DER 0x82 FFFF + flood|--mode header --at credssp --header 3082ffff $NLA|$CONNECT_NLA"
    "credssp DER 0x81 80 + flood|--mode header --at credssp --header 308180 $NLA|$CONNECT_NLA"
    "mcs drip|--mode drip --at mcs|$CONNECT --nla off"
    "mcs truncate|--mode truncate --at mcs|$CONNECT --nla off"
    "mcs flood|--mode flood --at mcs|$CONNECT --nla off"
    "mcs TPKT length 0|--mode header --at mcs --header 03000000|$CONNECT --nla off"
    "mcs TPKT length 65535 + flood|--mode header --at mcs --header 0300ffff|$CONNECT --nla off"
    "mcs fast-path 0x7FFF + flood|--mode header --at mcs --header 00ffff|$CONNECT --nla off"
    "mcs fast-path 0x8000|--mode header --at mcs --header 008000 --then hold|$CONNECT --nla off"
    "first frame flood|--mode flood --at first-frame|$CONNECT --nla off"
    "first frame fast-path 0x7FFF + flood|--mode header --at first-frame --header 00ffff|$CONNECT --nla off"
    "first frame drip|--mode drip --at first-frame|$CONNECT --nla off"
    "first frame endless fragments|--mode fragments --at first-frame|$CONNECT --nla off"
    "diagnose: x224 garbage|--mode garbage-x224|diagnose ADDR --json --timeout $TIMEOUT"
    "diagnose: x224 flood|--mode flood --at x224|diagnose ADDR --json --timeout $TIMEOUT"
    "diagnose: reset after accept|--mode reset-after-accept|diagnose ADDR --json --timeout $TIMEOUT"
    "diagnose: credssp flood|--mode flood --at credssp $NLA|diagnose ADDR --json --timeout $TIMEOUT"
    "diagnose: credssp DER 0x84 7FFFFFFF|--mode header --at credssp --header 30847fffffff $NLA|diagnose ADDR --json --timeout $TIMEOUT"
    "diagnose: mcs flood|--mode flood --at mcs|diagnose ADDR --json --timeout $TIMEOUT"
    "diagnose: tls flood|--mode flood --at tls|diagnose ADDR --json --timeout $TIMEOUT"
    "diagnose: certificate garbage DER|--mode bad-certificate --certificate garbage-der|diagnose ADDR --json --timeout $TIMEOUT"
)

# Starts the acceptor with "$@", sets ADDR and APID.
start_acceptor() {
    local out=$WORK/acceptor.out
    rm -f "$out"
    "$ACCEPTOR" --port 0 "$@" >"$out" 2>"$WORK/acceptor.err" &
    APID=$!
    for _ in $(seq 100); do
        ADDR=$(awk '/^listening /{print $2}' "$out" 2>/dev/null || true)
        [[ -n "$ADDR" ]] && return 0
        sleep 0.05
    done
    log "the acceptor did not start: $(cat "$WORK/acceptor.err")"
    exit 1
}

rows=()
for case in "${CASES[@]}"; do
    IFS='|' read -r name acceptor_args client_args <<<"$case"
    # shellcheck disable=SC2086
    start_acceptor $acceptor_args
    # shellcheck disable=SC2086
    set -- ${client_args//ADDR/$ADDR}
    started=${EPOCHREALTIME/./}
    set +e
    echo p | timeout 120 /usr/bin/time -f %M -o "$WORK/time" "$BIN" "$@" >"$WORK/out.json" 2>"$WORK/err.txt"
    code=$?
    set -e
    ended=${EPOCHREALTIME/./}
    kill "$APID" 2>/dev/null || true
    wait "$APID" 2>/dev/null || true
    APID=
    rss=$(tail -1 "$WORK/time" | tr -dc 0-9)
    result=$(python3 - "$WORK/out.json" <<'EOF'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    print("(no JSON)")
    sys.exit()
if "attempts" in j:
    last = j["attempts"][-1] if j["attempts"] else {}
    n = len(j["attempts"])
    print(f'{last.get("outcome", "?")} at {last.get("stage", "?")}' + (f" ({n} attempts)" if n > 1 else ""))
else:
    print("found: " + (", ".join(j.get("found", [])) or "nothing"))
EOF
)
    wall=$(bench_elapsed_ms "$started" "$ended")
    mib=$(python3 -c "print(f'{${rss:-0} / 1024:.0f}')")
    rows+=("| $name | $code | $result | $wall | $mib |")
    log "$name: exit $code, $result, ${wall} ms, ${mib} MiB"
done

{
    echo "| mode | exit | outcome | wall (ms) | peak RSS (MiB) |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee "${OUT:-/dev/null}"
