# What the bench scripts share; sourced by run.sh, diagnose.sh, matrix.sh, hostile.sh,
# attempts.sh, latency.sh and bridge.sh, not run.
# Paths, logging, usage from the script's header, dependency checks, the release binary, a
# private work dir whose lab servers are stopped on any exit, free loopback ports, lab
# servers started with retries, warm-up plus interleaved measured rounds, and the facts
# about the machine and the binary that every report states.
#
# The sourcing script sets, before calling these: KEEP (1 = keep the work dir) and REBUILD
# (1 = rebuild the binary); it may define bench_cleanup_hook (run on exit, after the lab
# servers are stopped).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
LAB="$ROOT/tests/lab/lab.sh"
BIN=${RDPSHIM_BIN:-$ROOT/target/release/rdpshim}
BENCHLIB_PY="$BENCH_DIR/benchlib.py"

log() { echo "bench: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# The script's header comment (after the #! line) as its usage, on stderr; exits 2.
bench_usage() {
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0" >&2
    exit 2
}

# bench_option OPT: the options every bench script takes, for its getopts loop: -n N (N),
# -b (REBUILD=1), -k (KEEP=1); anything else prints the usage.
bench_option() {
    case "$1" in
    n) N=$OPTARG ;;
    b) REBUILD=1 ;;
    k) KEEP=1 ;;
    *) bench_usage ;;
    esac
}

# bench_gnu_time: GNU time as /usr/bin/time (peak RSS, `%M`), installed if missing.
bench_gnu_time() {
    if [[ ! -x /usr/bin/time ]]; then
        log "installing GNU time (apt package 'time') for peak RSS"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
    fi
}

# bench_need CMD:PACKAGE...: as root, GNU time (installed if missing), each CMD on PATH, the lab.
bench_need() {
    local need
    [[ $EUID -eq 0 ]] || die "must run as root (the lab needs it)"
    bench_gnu_time
    for need in "$@"; do
        command -v "${need%%:*}" >/dev/null ||
            die "missing ${need%%:*} (Debian package ${need#*:}; lab deps: tests/lab/install-deps.sh)"
    done
    [[ -x "$LAB" ]] || die "no lab script at $LAB"
}

# bench_binary [ARGS...]: builds target/release/rdpshim when missing or REBUILD=1, then checks
# that `rdpshim ARGS` runs (the subcommand the benchmark needs exists in this build).
bench_binary() {
    if ((REBUILD)) || [[ ! -x "$BIN" ]]; then
        log "building release binary (cargo build --release -p rdpshim)"
        (cd "$ROOT" && cargo build --release -p rdpshim) >&2
    fi
    [[ -x "$BIN" ]] || die "no binary at $BIN"
    if (($#)); then
        "$BIN" "$@" >/dev/null 2>&1 || die "$BIN cannot run '$*' (rebuild with -b)"
    fi
}

# bench_workdir PREFIX: WORK = a private temp dir with lab/ and runs/; on any exit every lab
# server in STARTED_DIRS is stopped (by its lab dir) and WORK removed unless KEEP=1.
bench_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    mkdir -p "$WORK/lab" "$WORK/runs"
    STARTED_DIRS=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local rc=$? d
    for d in "${STARTED_DIRS[@]}"; do "$LAB" stop "$d" >/dev/null 2>&1 || true; done
    if declare -F bench_cleanup_hook >/dev/null; then bench_cleanup_hook || true; fi
    if ((KEEP)); then log "work dir kept: $WORK"; else rm -rf -- "$WORK"; fi
    exit "$rc"
}

# bench_free_ports N LO HI: N distinct TCP ports free on 127.0.0.1 now, in LO..HI (the lab
# wants ports below the ephemeral range, 32768), space-separated.
bench_free_ports() {
    python3 "$BENCHLIB_PY" free-ports "$@"
}

# bench_start_lab KIND DIR LO HI: starts a lab server on a free port in LO..HI (three tries,
# a fresh port each), recorded in STARTED_DIRS. Sets LAB_HOST, LAB_PORT, LAB_USER and
# LAB_PASSWORD (and LAB_NAME, LAB_HOSTS_FILE: ipv6-first's name and hosts file, else empty) from
# lab.sh's key=value line; returns 1 with LAB_ERROR (the last line lab.sh
# printed, commas made semicolons for CSV) when every try failed; LAB_LINE is the whole line
# (for kind-specific keys such as host6=).
bench_start_lab() {
    local kind=$1 dir=$2 lo=$3 hi=$4 line="" port w
    STARTED_DIRS+=("$dir")
    for _ in 1 2 3; do
        port=$(bench_free_ports 1 "$lo" "$hi")
        if line=$("$LAB" start "$kind" "$port" "$dir" 2>"$dir.err"); then break; fi
        "$LAB" stop "$dir" >/dev/null 2>&1 || true
        line=""
    done
    if [[ -z "$line" ]]; then
        LAB_ERROR=$(tail -n 1 "$dir.err" | tr ',' ';')
        return 1
    fi
    local -A kv=()
    for w in $line; do kv[${w%%=*}]=${w#*=}; done
    LAB_HOST=${kv[host]} LAB_PORT=${kv[port]} LAB_USER=${kv[user]:-} LAB_PASSWORD=${kv[password]:-}
    LAB_NAME=${kv[name]:-} LAB_HOSTS_FILE=${kv[hosts]:-}
    LAB_LINE=$line
}

# bench_knobs KIND: the knobs that connect to KIND in one attempt, for rdpshim
# (RDPSHIM_KNOBS, with -u USERNAME where NLA needs it) and xfreerdp (XF_KNOBS, with the
# password PASSWORD on its command line: lab credentials only).
bench_knobs() {
    RDPSHIM_KNOBS=(--nla off)
    XF_KNOBS=(/sec:tls /u:bench /p:bench) # +auth-only refuses to start without a password
    case "$1" in
    xrdp-modern | xrdp-expired | shadow-tls) ;;
    xrdp-tls10)
        RDPSHIM_KNOBS=(--nla off --tls 1.0)
        XF_KNOBS+=(/tls-seclevel:0) # Debian's OpenSSL defaults (SECLEVEL=2) refuse TLS 1.0
        ;;
    xrdp-aes128sha)
        RDPSHIM_KNOBS=(--nla off --tls-stack openssl --tls 1.2 --ciphers AES128-SHA)
        ;; # xfreerdp's default cipher list already includes AES128-SHA
    shadow-nla)
        RDPSHIM_KNOBS=(-u "$USERNAME")
        XF_KNOBS=(/sec:nla "/u:$USERNAME" "/p:$PASSWORD")
        ;;
    *) die "no knobs for kind $1" ;;
    esac
}

# bench_start_xvfb: a private Xvfb; sets XDISPLAY and XVFB_PID. xfreerdp (even --version
# and +auth-only) opens an X display: start it once, before anything is measured, so its
# start-up is never part of a measurement. bench_stop_xvfb stops it (call it from
# bench_cleanup_hook).
bench_start_xvfb() {
    local dfile="$WORK/xvfb.display" i
    Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp -noreset 3>"$dfile" >"$WORK/xvfb.log" 2>&1 &
    XVFB_PID=$!
    for ((i = 0; i < 100; i++)); do
        if [[ -s "$dfile" ]]; then
            XDISPLAY=":$(tr -dc 0-9 <"$dfile")"
            return 0
        fi
        kill -0 "$XVFB_PID" 2>/dev/null || break
        sleep 0.1
    done
    die "Xvfb did not start (see $WORK/xvfb.log)"
}

bench_stop_xvfb() {
    if [[ -n "${XVFB_PID:-}" ]]; then
        kill "$XVFB_PID" 2>/dev/null || true
        wait "$XVFB_PID" 2>/dev/null || true
        XVFB_PID=""
    fi
}

# bench_rounds N RUN_FN ROUND_FN TOOL...: one warm-up round (phase `warmup`, run 0, the
# tools in the order given), then N measured rounds (phase `run`, runs 1..N) whose order
# rotates by one each round, so no tool always follows the same one's teardown. Calls
# `RUN_FN PHASE RUN TOOL` for each tool, then `ROUND_FN PHASE RUN` (`:` for nothing).
bench_rounds() {
    local n=$1 run_fn=$2 round_fn=$3 i j
    shift 3
    local tools=("$@")
    for ((j = 0; j < ${#tools[@]}; j++)); do "$run_fn" warmup 0 "${tools[j]}"; done
    "$round_fn" warmup 0
    for ((i = 1; i <= n; i++)); do
        for ((j = 0; j < ${#tools[@]}; j++)); do
            "$run_fn" run "$i" "${tools[(i - 1 + j) % ${#tools[@]}]}"
        done
        "$round_fn" run "$i"
    done
}

# bench_elapsed_ms T0 T1: the time between two ${EPOCHREALTIME/./} readings (microseconds),
# as milliseconds with one decimal.
bench_elapsed_ms() {
    local d=$(($2 - $1))
    echo "$((d / 1000)).$(((d % 1000) / 100))"
}

# The report's facts, as key=value lines for the summarizers' META file.
bench_meta_machine() {
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc=$(nproc)"
    echo "kernel=$(uname -sr)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "mem_gib=$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)"
    echo "xrdp=$(xrdp --version 2>/dev/null | head -n 1 || true)"
    # The binary: its version, the git revision (+dirty when client/profiles differ from
    # HEAD; BENCH_REV names it instead, for a RDPSHIM_BIN built elsewhere), and when it was
    # built.
    local rev=${BENCH_REV:-}
    if [[ -z "$rev" ]]; then
        rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
        if [[ -n "$(git -C "$ROOT" status --porcelain -- client profiles Cargo.toml Cargo.lock 2>/dev/null)" ]]; then
            rev="$rev+dirty"
        fi
    fi
    echo "rdpshim=$("$BIN" --version 2>/dev/null | head -n 1), git $rev, binary built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)"
}

bench_loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# bench_meta_run: a run next to xfreerdp, for the META file: the machine's facts, the load
# at start and end (LOAD_START, LOAD_END), xfreerdp's version (on XDISPLAY), N and ELAPSED.
bench_meta_run() {
    bench_meta_machine
    echo "loadavg=$LOAD_START (start) / $LOAD_END (end)"
    echo "xfreerdp=$(DISPLAY=$XDISPLAY xfreerdp --version 2>/dev/null | head -n 1)"
    echo "n=$N"
    echo "elapsed_s=$ELAPSED"
}
