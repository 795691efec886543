#!/usr/bin/env bash
# rdpshim test lab: start and stop real (and deliberately broken) RDP servers.
#
#   lab.sh start KIND PORT DIR   start one server, all state under DIR; prints one key=value line
#   lab.sh stop DIR              stop what was started for DIR (idempotent)
#   lab.sh kinds                 list kinds
#   lab.sh up [BASEPORT]         start every kind on consecutive ports (default 19389; keep below the
#                                kernel ephemeral range 32768+) under ${TMPDIR:-/tmp}/rdpshim-lab
#   lab.sh down                  stop everything `up` started
#   lab.sh gc [BASE]             stop+remove harness dirs BASE/rdpshim-lab-<pid>-* whose <pid> is gone
#
# Needs root (mount and network namespaces). Values printed never contain whitespace.
set -euo pipefail

LAB_SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABPY="$LAB_SCRIPT_DIR/labpy.py"
if [[ -z "${LAB_PYTHON:-}" ]]; then
    if [[ -x /usr/bin/python3 ]]; then LAB_PYTHON=/usr/bin/python3; else LAB_PYTHON=python3; fi
fi
LAB_USER=labuser
LAB_PASSWORD='Lab-Passw0rd!'
LAB_V6_NAME=rdpshim-lab-v6first
LAB_SCREEN=1024x768x24
LAB_DEADLINE=${LAB_DEADLINE:-15}
LAB_LOCK=/run/lock/rdpshim-lab.lock

KINDS=(xrdp-modern xrdp-tls10 xrdp-aes128sha xrdp-expired xrdp-rdp-only shadow-nla shadow-tls
    closer staller staller-tls ipv6-first netns-drop netns-reject
    win-reset win-reset-ssl http tls-plain xrdp-negotiate xrdp-rdp-low xrdp-rdp-fips selects-tls)

kind_description() {
    case "$1" in
    xrdp-modern) echo "xrdp, TLS only (security_layer=tls), TLS 1.2+1.3, valid self-signed cert" ;;
    xrdp-tls10) echo "xrdp, TLS 1.0 only, ECDHE-RSA-AES128-SHA at @SECLEVEL=0" ;;
    xrdp-aes128sha) echo "xrdp, TLS 1.2 only, only AES128-SHA (CBC, RSA kx): AEAD-only clients get handshake_failure" ;;
    xrdp-expired) echo "xrdp, TLS 1.2+1.3, self-signed cert valid 2020-01-01..2021-01-01 (expired)" ;;
    xrdp-rdp-only) echo "xrdp, Standard RDP Security only (security_layer=rdp), crypt_level=none" ;;
    shadow-nla) echo "freerdp-shadow-cli on a private Xvfb ($LAB_SCREEN), NLA required (user/password printed)" ;;
    shadow-tls) echo "freerdp-shadow-cli on a private Xvfb ($LAB_SCREEN), TLS only, no NLA" ;;
    closer) echo "python listener: reads the X.224 Connection Request, then closes" ;;
    staller) echo "python listener: reads the X.224 Connection Request, never answers" ;;
    staller-tls) echo "python listener: answers X.224 CC selecting PROTOCOL_SSL, never answers the ClientHello" ;;
    ipv6-first) echo "xrdp-modern on 127.0.0.1 only; name=$LAB_V6_NAME resolves ::1 first inside with-hosts.sh HOSTS" ;;
    netns-drop) echo "xrdp-modern in a network namespace behind iptables DROP (connect hangs); host6= an IPv6 address dropped too" ;;
    netns-reject) echo "xrdp-modern in a network namespace behind iptables REJECT tcp-reset (refused); host6= an IPv6 address refused too" ;;
    win-reset) echo "python listener like Windows with an unusable RDP certificate: selects the protocol asked, RST at the ClientHello" ;;
    win-reset-ssl) echo "python listener like Windows with an unusable RDP certificate: selects PROTOCOL_SSL whatever was asked, RST at the ClientHello" ;;
    http) echo "python3 -m http.server: a web server where an RDP server was expected" ;;
    tls-plain) echo "openssl s_server: TLS straight away, no X.224 (an HTTPS or TLS-wrapped port)" ;;
    xrdp-negotiate) echo "xrdp, security_layer=negotiate, crypt_level=high: TLS, and Standard RDP Security (128-bit RC4) offered too" ;;
    xrdp-rdp-low) echo "xrdp, Standard RDP Security only, crypt_level=low (40-bit RC4)" ;;
    xrdp-rdp-fips) echo "xrdp, Standard RDP Security only, crypt_level=fips (FIPS 140-1: 3DES)" ;;
    selects-tls) echo "a TLS-only server that selects PROTOCOL_SSL whatever was asked (python X.224 front, xrdp-modern behind it on 127.0.0.2)" ;;
    # Not in KINDS (`up` cannot start it): the caller writes the certificate first.
    xrdp-given-cert) echo "xrdp-modern with the certificate the caller put in DIR (cert.pem, key.pem)" ;;
    *) return 1 ;;
    esac
}

die() {
    echo "lab.sh: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- process bookkeeping

# Fields of /proc/PID/stat after "(comm)" into the array STAT_F (STAT_F[0] = state,
# STAT_F[2] = pgid, STAT_F[19] = starttime). Returns 1 if PID does not exist. No forks.
read_stat() {
    local line
    STAT_F=()
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r -a STAT_F <<<"${line##*) }"
}

# Start time (clock ticks since boot) of PID, or empty if PID does not exist.
proc_starttime() {
    if read_stat "$1"; then echo "${STAT_F[19]}"; fi
}

# Launch ROLE: `setsid CMD...` in the background with output to DIR/ROLE.log.
# Records "ROLE PID STARTTIME" in DIR/pids; the PID leads its own session and process group.
# Sets LAUNCHED_PID.
launch() {
    local role=$1
    shift
    (cd "$DIR" && exec setsid "$@") </dev/null >"$DIR/$role.log" 2>&1 &
    LAUNCHED_PID=$!
    local st=""
    # starttime is fixed at fork, so it is readable at once (unless the process already died).
    st=$(proc_starttime "$LAUNCHED_PID")
    echo "$role $LAUNCHED_PID ${st:-0}" >>"$DIR/pids"
    ROLE_PIDS[$role]=$LAUNCHED_PID
}

# Is the process recorded as PID/STARTTIME still that same process?
same_process() {
    local cur
    cur=$(proc_starttime "$1")
    [[ -n "$cur" && "$cur" == "$2" ]]
}

# Is process group PID (led by the process we recorded with start time ST) still ours and
# alive? kill -0 on a negative pid succeeds while any member of the group exists, and the
# kernel does not reuse a pid while a process group with that id exists. So: if the leader
# is gone but the group exists, the members are ours; if a process with that pid exists
# but with another start time, the pid was reused after our group emptied: not ours.
group_alive() {
    local pid=$1 st=$2 cur
    kill -0 -- "-$pid" 2>/dev/null || return 1
    cur=$(proc_starttime "$pid")
    [[ -z "$cur" || "$cur" == "$st" ]] || return 1
    # A zombie leader alone (not yet reaped) counts as gone.
    if read_stat "$pid" && [[ "${STAT_F[0]}" == Z ]] && [[ -z "$(other_members "$pid")" ]]; then
        return 1
    fi
    return 0
}

other_members() {
    local p
    for p in /proc/[0-9]*; do
        [[ "${p#/proc/}" != "$1" ]] || continue
        read_stat "${p#/proc/}" || continue
        if [[ "${STAT_F[2]}" == "$1" ]]; then echo "${p#/proc/}"; fi
    done
    return 0
}

stop_processes() {
    local pidfile="$DIR/pids"
    [[ -f "$pidfile" ]] || return 0
    local -a pids=() sts=()
    local role pid st i
    while read -r role pid st; do
        [[ -n "${pid:-}" ]] || continue
        pids+=("$pid")
        sts+=("${st:-0}")
    done <"$pidfile"
    # Stop in reverse start order (servers before their X display).
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        if group_alive "${pids[i]}" "${sts[i]}"; then kill -TERM -- "-${pids[i]}" 2>/dev/null || true; fi
    done
    local deadline=$((SECONDS + ${LAB_STOP_GRACE:-3})) alive
    while :; do
        alive=0
        for ((i = 0; i < ${#pids[@]}; i++)); do
            if group_alive "${pids[i]}" "${sts[i]}"; then alive=1; fi
        done
        ((alive)) || break
        if ((SECONDS >= deadline)); then
            for ((i = 0; i < ${#pids[@]}; i++)); do
                if group_alive "${pids[i]}" "${sts[i]}"; then kill -KILL -- "-${pids[i]}" 2>/dev/null || true; fi
            done
            sleep 0.2
            break
        fi
        sleep 0.05
    done
    mv -f "$pidfile" "$pidfile.stopped"
}

# ---------------------------------------------------------------- state file (key=value)

state_set() { echo "$1=$2" >>"$DIR/state"; }
state_get() {
    [[ -f "$DIR/state" ]] || return 0
    sed -n "s/^$1=//p" "$DIR/state" | tail -n 1
}

# ---------------------------------------------------------------- netns

netns_teardown() {
    local ns veth ipt rule ipt6 rule6
    ns=$(state_get netns)
    veth=$(state_get veth)
    ipt=$(state_get iptables)
    rule=$(state_get iptables_rule)
    ipt6=$(state_get ip6tables)
    rule6=$(state_get ip6tables_rule)
    if [[ -n "$ns" ]] && ip netns list 2>/dev/null | grep -qw -- "$ns"; then
        if [[ -n "$ipt" && -n "$rule" ]]; then
            # shellcheck disable=SC2086
            ip netns exec "$ns" "$ipt" -D $rule 2>/dev/null || true
        fi
        if [[ -n "$ipt6" && -n "$rule6" ]]; then
            # shellcheck disable=SC2086
            ip netns exec "$ns" "$ipt6" -D $rule6 2>/dev/null || true
        fi
    fi
    if [[ -n "$veth" ]] && ip link show "$veth" >/dev/null 2>&1; then
        ip link del "$veth" 2>/dev/null || true
    fi
    if [[ -n "$ns" ]] && ip netns list 2>/dev/null | grep -qw -- "$ns"; then
        ip netns del "$ns" 2>/dev/null || true
    fi
    return 0
}

# Create namespace + veth for PORT; sets NS, NS_HOST_ADDR (host side), NS_ADDR (namespace side),
# and NS_HOST_ADDR6 / NS_ADDR6 (IPv6, empty when the kernel has none).
netns_setup() {
    local port=$1 idx try a b used
    NS="rdpshim-$port"
    local vh="rdps${port}h" vn="rdps${port}n"
    exec 9>"$LAB_LOCK"
    flock -w 10 9 || die "could not take $LAB_LOCK"
    if ip netns list | grep -qw -- "$NS"; then
        exec 9>&-
        die "network namespace $NS already exists (another lab on port $port?)"
    fi
    if ip link show "$vh" >/dev/null 2>&1; then
        exec 9>&-
        die "interface $vh already exists (another lab on port $port?)"
    fi
    # The /30 is derived from the port; move on if another lab already uses it.
    used=$(ip -4 -o addr show 2>/dev/null | awk '{print $4}')
    for ((try = 0; try < 64; try++)); do
        idx=$(((port + try) % 16384))
        a=$((idx / 64))
        b=$(((idx % 64) * 4))
        if ! grep -qx "10.231.$a.$((b + 1))/30" <<<"$used"; then break; fi
    done
    ((try < 64)) || die "no free /30 in 10.231.0.0/16 near port $port"
    NS_HOST_ADDR="10.231.$a.$((b + 1))"
    NS_ADDR="10.231.$a.$((b + 2))"
    state_set netns "$NS"
    ip netns add "$NS"
    state_set veth "$vh"
    ip link add "$vh" type veth peer name "$vn" netns "$NS"
    ip addr add "$NS_HOST_ADDR/30" dev "$vh"
    ip link set "$vh" up
    ip -n "$NS" link set lo up
    ip -n "$NS" addr add "$NS_ADDR/30" dev "$vn"
    ip -n "$NS" link set "$vn" up
    # IPv6 too, from the documentation prefix 2001:db8::/32: RFC 6724's default policy table
    # ranks it above IPv4 (precedence 40 against 35), so a hosts file listing this address and
    # 127.0.0.1 for one name resolves to the namespace first: a dead AAAA ahead of a working
    # A, the case Happy Eyeballs (RFC 8305) is for. nodad: usable at once. Best effort: a
    # kernel without IPv6 leaves NS_ADDR6 empty and the kinds print no host6=.
    local six
    six=$(printf '2001:db8:231:%x' "$idx")
    NS_HOST_ADDR6="" NS_ADDR6=""
    if ip -6 addr add "$six::1/64" dev "$vh" nodad 2>/dev/null &&
        ip -n "$NS" -6 addr add "$six::2/64" dev "$vn" nodad 2>/dev/null; then
        NS_HOST_ADDR6="$six::1" NS_ADDR6="$six::2"
    fi
    exec 9>&-
}

# iptables that works inside the namespace: the default (nft on Debian 12), else legacy.
netns_iptables() {
    local ns=$1 ipt
    for ipt in iptables iptables-nft iptables-legacy; do
        command -v "$ipt" >/dev/null 2>&1 || continue
        if ip netns exec "$ns" "$ipt" -S INPUT >/dev/null 2>&1; then
            echo "$ipt"
            return 0
        fi
    done
    return 1
}

# ---------------------------------------------------------------- certificates

make_selfsigned_cert() { # DIR-relative names: cert.pem key.pem; $1 = extra SAN entries
    local san="IP:127.0.0.1,DNS:localhost,DNS:$LAB_V6_NAME${1:+,$1}"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -keyout "$DIR/key.pem" -out "$DIR/cert.pem" -subj "/CN=rdpshim-lab" \
        -addext "subjectAltName=$san" >"$DIR/openssl.log" 2>&1 ||
        { cat "$DIR/openssl.log" >&2; die "openssl req failed"; }
    rm -f "$DIR/openssl.log"
}

make_expired_cert() {
    local ca="$DIR/ca"
    mkdir -p "$ca"
    : >"$ca/index.txt"
    echo 01 >"$ca/serial"
    cat >"$ca/ca.cnf" <<EOF
[ ca ]
default_ca = lab
[ lab ]
dir = $ca
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = pol
email_in_dn = no
unique_subject = no
x509_extensions = ext
[ pol ]
commonName = supplied
[ ext ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF
    {
        openssl req -new -newkey rsa:2048 -nodes -keyout "$DIR/key.pem" -out "$ca/req.csr" \
            -subj "/CN=rdpshim-lab-expired" &&
            openssl ca -batch -selfsign -config "$ca/ca.cnf" -keyfile "$DIR/key.pem" \
                -in "$ca/req.csr" -out "$DIR/cert.pem" \
                -startdate 20200101000000Z -enddate 20210101000000Z
    } >"$DIR/openssl.log" 2>&1 || { cat "$DIR/openssl.log" >&2; die "openssl ca -selfsign failed"; }
    rm -f "$DIR/openssl.log"
}

# ---------------------------------------------------------------- xrdp

# write_xrdp_ini ADDR PORT SECURITY_LAYER CRYPT_LEVEL SSL_PROTOCOLS TLS_CIPHERS
write_xrdp_ini() {
    local addr=$1 port=$2 sec=$3 crypt=$4 protos=$5 ciphers=$6 cert="" key=""
    if [[ -f "$DIR/cert.pem" ]]; then
        cert="$DIR/cert.pem"
        key="$DIR/key.pem"
    fi
    cat >"$DIR/xrdp.ini" <<EOF
[Globals]
ini_version=1
fork=false
port=tcp://$addr:$port
use_vsock=false
tcp_nodelay=true
tcp_keepalive=true
security_layer=$sec
crypt_level=$crypt
certificate=$cert
key_file=$key
ssl_protocols=$protos
tls_ciphers=$ciphers
autorun=
allow_channels=true
allow_multimon=true
bitmap_cache=true
bitmap_compression=true
bulk_compression=true
max_bpp=32
new_cursors=true
use_fastpath=both
blue=009cb5
grey=dedede
ls_top_window_bg_color=009cb5
ls_width=350
ls_height=430
ls_bg_color=dedede
ls_logo_filename=
ls_logo_x_pos=55
ls_logo_y_pos=50
ls_label_x_pos=30
ls_label_width=65
ls_input_x_pos=110
ls_input_width=210
ls_input_y_pos=220
ls_btn_ok_x_pos=142
ls_btn_ok_y_pos=370
ls_btn_ok_width=85
ls_btn_ok_height=30
ls_btn_cancel_x_pos=237
ls_btn_cancel_y_pos=370
ls_btn_cancel_width=85
ls_btn_cancel_height=30

[Logging]
LogFile=$DIR/xrdp-server.log
LogLevel=INFO
EnableSyslog=false
EnableConsole=false

[LoggingPerLogger]

[Channels]
rdpdr=true
rdpsnd=true
drdynvc=true
cliprdr=true
rail=true
xrdpvr=true
tcutils=true

[Xorg]
name=Xorg
lib=libxup.so
username=ask
password=ask
ip=127.0.0.1
port=-1
code=20
EOF
}

# xrdp refuses to start if /var/run/xrdp/xrdp.pid exists (/var/run -> /run), so each
# instance gets a private mount namespace with a tmpfs over /run/xrdp.
# $1: optional network namespace to run in.
launch_xrdp() {
    local ns=${1:-}
    [[ -r /etc/xrdp/rsakeys.ini ]] || die "/etc/xrdp/rsakeys.ini missing (apt-get install xrdp)"
    mkdir -p /run/xrdp # mount point; the package creates it too
    # shellcheck disable=SC2016 # $0 is expanded by the inner sh
    local -a xcmd=(unshare -m --propagation private sh -c
        'mount -t tmpfs -o size=1m,mode=0755 rdpshim-lab /run/xrdp && exec xrdp --nodaemon --config "$0"'
        "$DIR/xrdp.ini")
    if [[ -n "$ns" ]]; then
        launch xrdp ip netns exec "$ns" "${xcmd[@]}"
    else
        launch xrdp "${xcmd[@]}"
    fi
}

# ---------------------------------------------------------------- readiness

# Fail with the reason if ROLE has died.
check_alive() {
    local role=$1 pid=${ROLE_PIDS[$1]} rc=0
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || rc=$?
        FAIL_REASON="$role (pid $pid) exited with code $rc"
        return 1
    fi
    # A zombie still answers kill -0.
    if read_stat "$pid" && [[ "${STAT_F[0]}" == Z ]]; then
        wait "$pid" 2>/dev/null || rc=$?
        FAIL_REASON="$role (pid $pid) exited with code $rc"
        return 1
    fi
}

# Listening TCP sockets on PORT as "ss" shows them (inside namespace NS if given).
listeners() {
    local port=$1 ns=${2:-}
    if [[ -n "$ns" ]]; then
        ip netns exec "$ns" ss -Hltnp "sport = :$port" 2>/dev/null || true
    else
        ss -Hltnp "sport = :$port" 2>/dev/null || true
    fi
}

# wait_ready ROLE HOST PORT [--x224] [NS]: poll until the server answers on HOST:PORT and
# the listening socket belongs to ROLE (so a foreign listener on the port cannot pass for
# ours), watching all launched roles for an early exit.
wait_ready() {
    local server=$1 host=$2 port=$3 x224=${4:-} ns=${5:-} end=$((SECONDS + LAB_DEADLINE)) role
    local pid=${ROLE_PIDS[$server]} why=""
    local -a probe_args=(--deadline 0.5)
    if [[ -n "$x224" ]]; then probe_args+=("$x224"); fi
    while :; do
        for role in "${!ROLE_PIDS[@]}"; do check_alive "$role" || return 1; done
        if "$LAB_PYTHON" "$LABPY" probe "$host" "$port" "${probe_args[@]}" 2>"$DIR/probe.err"; then
            if grep -q "pid=$pid," <<<"$(listeners "$port" "$ns")"; then
                rm -f "$DIR/probe.err"
                return 0
            fi
            why="$host:$port answers, but not from $server (pid $pid): $(listeners "$port" "$ns" | tr -s ' ' | head -n 2)"
        else
            why=$(tail -n 1 "$DIR/probe.err")
        fi
        if ((SECONDS >= end)); then
            FAIL_REASON="$server not ready on $host:$port within ${LAB_DEADLINE}s ($why)"
            return 1
        fi
        sleep 0.05
    done
}

# Start Xvfb on a free display (Xvfb picks it via -displayfd). Sets XDISPLAY.
start_xvfb() {
    local f="$DIR/display" end=$((SECONDS + LAB_DEADLINE))
    : >"$f"
    # shellcheck disable=SC2016 # $1 and $2 are expanded by the inner sh
    launch xvfb sh -c 'exec Xvfb -displayfd 3 -screen 0 "$1" -nolisten tcp -noreset 3>"$2"' \
        xvfb "$LAB_SCREEN" "$f"
    while ! grep -q '^[0-9][0-9]*$' "$f" 2>/dev/null; do
        check_alive xvfb || return 1
        if ((SECONDS >= end)); then
            FAIL_REASON="Xvfb did not report a display within ${LAB_DEADLINE}s"
            return 1
        fi
        sleep 0.05
    done
    XDISPLAY=":$(head -n 1 "$f")"
    state_set display "$XDISPLAY"
    # Non-uniform screen content: a two-colour plaid root and, if present, an analog clock.
    if command -v xsetroot >/dev/null 2>&1; then
        DISPLAY=$XDISPLAY xsetroot -mod 16 16 -fg '#d04020' -bg '#203060' >>"$DIR/xvfb.log" 2>&1 || true
    fi
    if command -v xclock >/dev/null 2>&1; then
        launch xclock env DISPLAY="$XDISPLAY" xclock -geometry 300x300+60+60 -bg white -fg black -hd black -hl blue
    fi
}

# ---------------------------------------------------------------- start / stop

FAIL_REASON=""
declare -A ROLE_PIDS=()

on_start_exit() {
    local rc=$?
    trap - EXIT
    if ((rc != 0)); then
        {
            echo "lab.sh: start $KIND on port $PORT failed (exit $rc)${FAIL_REASON:+: $FAIL_REASON}"
            local f
            for f in "$DIR"/*.log; do
                [[ -s "$f" ]] || continue
                echo "---- tail of $f"
                tail -n 15 "$f"
            done
        } >&2
        do_stop >/dev/null 2>&1 || true
    fi
    exit "$rc"
}

do_start() {
    KIND=$1
    PORT=$2
    DIR=$3
    kind_description "$KIND" >/dev/null || die "unknown kind '$KIND' (see: lab.sh kinds)"
    if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then die "bad port '$PORT'"; fi
    [[ "$DIR" != *[[:space:]]* ]] || die "DIR must not contain whitespace"
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [[ -s "$DIR/pids" ]]; then
        local role pid st
        while read -r role pid st; do
            same_process "$pid" "$st" && die "$DIR already has running processes (lab.sh stop $DIR first)"
        done <"$DIR/pids"
    fi
    rm -f "$DIR/pids" "$DIR/pids.stopped" "$DIR/state" "$DIR/state.stopped" "$DIR"/*.log
    : >"$DIR/pids"
    trap on_start_exit EXIT
    state_set kind "$KIND"
    state_set port "$PORT"

    local host=127.0.0.1 user="" password="" extra=""
    case "$KIND" in
    xrdp-modern)
        make_selfsigned_cert
        write_xrdp_ini 127.0.0.1 "$PORT" tls high "TLSv1.2, TLSv1.3" ""
        launch_xrdp
        wait_ready xrdp "$host" "$PORT" --x224
        ;;
    xrdp-given-cert)
        [[ -s "$DIR/cert.pem" && -s "$DIR/key.pem" ]] || die "$KIND needs DIR/cert.pem and DIR/key.pem"
        write_xrdp_ini 127.0.0.1 "$PORT" tls high "TLSv1.2, TLSv1.3" ""
        launch_xrdp
        wait_ready xrdp "$host" "$PORT" --x224
        ;;
    xrdp-tls10)
        make_selfsigned_cert
        write_xrdp_ini 127.0.0.1 "$PORT" tls high "TLSv1" "ECDHE-RSA-AES128-SHA:@SECLEVEL=0"
        launch_xrdp
        wait_ready xrdp "$host" "$PORT" --x224
        ;;
    xrdp-aes128sha)
        make_selfsigned_cert
        write_xrdp_ini 127.0.0.1 "$PORT" tls high "TLSv1.2" "AES128-SHA"
        launch_xrdp
        wait_ready xrdp "$host" "$PORT" --x224
        ;;
    xrdp-expired)
        make_expired_cert
        write_xrdp_ini 127.0.0.1 "$PORT" tls high "TLSv1.2, TLSv1.3" ""
        launch_xrdp
        wait_ready xrdp "$host" "$PORT" --x224
        ;;
    xrdp-rdp-only | xrdp-rdp-low | xrdp-rdp-fips)
        local crypt=none
        case "$KIND" in
        xrdp-rdp-low) crypt=low ;;
        xrdp-rdp-fips) crypt=fips ;;
        esac
        write_xrdp_ini 127.0.0.1 "$PORT" rdp "$crypt" "TLSv1.2, TLSv1.3" ""
        launch_xrdp
        wait_ready xrdp "$host" "$PORT" --x224
        ;;
    xrdp-negotiate)
        make_selfsigned_cert
        write_xrdp_ini 127.0.0.1 "$PORT" negotiate high "TLSv1.2, TLSv1.3" ""
        launch_xrdp
        wait_ready xrdp "$host" "$PORT" --x224
        ;;
    shadow-nla | shadow-tls)
        local sec=${KIND#shadow-}
        mkdir -p "$DIR/home"
        start_xvfb
        local -a args=("/port:$PORT" "/bind-address:127.0.0.1" "/sec:$sec")
        if [[ "$sec" == nla ]]; then
            winpr-hash -u "$LAB_USER" -p "$LAB_PASSWORD" -f sam >"$DIR/sam" ||
                die "winpr-hash failed"
            args+=("/sam-file:$DIR/sam")
            user=$LAB_USER
            password=$LAB_PASSWORD
        else
            # TLS-only logon is checked through PAM against a real Unix account and the
            # session is dropped 3-4 s later if that fails; a TLS-only Windows server shows
            # its login screen instead. -auth gives that behaviour without creating a user.
            args+=("-auth")
        fi
        launch shadow env HOME="$DIR/home" DISPLAY="$XDISPLAY" XDG_CONFIG_HOME="$DIR/home/.config" \
            freerdp-shadow-cli "${args[@]}"
        wait_ready shadow "$host" "$PORT" --x224
        extra="display=$XDISPLAY screen=$LAB_SCREEN"
        ;;
    closer)
        launch closer "$LAB_PYTHON" -u "$LABPY" closer 127.0.0.1 "$PORT"
        wait_ready closer "$host" "$PORT"
        ;;
    staller)
        launch staller "$LAB_PYTHON" -u "$LABPY" staller 127.0.0.1 "$PORT"
        wait_ready staller "$host" "$PORT"
        ;;
    staller-tls)
        launch staller "$LAB_PYTHON" -u "$LABPY" staller 127.0.0.1 "$PORT" --tls
        wait_ready staller "$host" "$PORT"
        ;;
    win-reset | win-reset-ssl)
        local select=asked
        if [[ "$KIND" == win-reset-ssl ]]; then select=ssl; fi
        launch resetter "$LAB_PYTHON" -u "$LABPY" resetter 127.0.0.1 "$PORT" --select "$select"
        wait_ready resetter "$host" "$PORT" --x224
        ;;
    selects-tls)
        # xrdp on 127.0.0.2 (same port: all of 127/8 is loopback), the X.224 front on 127.0.0.1.
        make_selfsigned_cert
        write_xrdp_ini 127.0.0.2 "$PORT" tls high "TLSv1.2, TLSv1.3" ""
        launch_xrdp
        wait_ready xrdp 127.0.0.2 "$PORT" --x224
        launch front "$LAB_PYTHON" -u "$LABPY" selects-tls 127.0.0.1 "$PORT" 127.0.0.2 "$PORT"
        wait_ready front "$host" "$PORT" --x224
        ;;
    http)
        mkdir -p "$DIR/www"
        echo "not an RDP server" >"$DIR/www/index.html"
        launch http "$LAB_PYTHON" -m http.server --bind 127.0.0.1 --directory "$DIR/www" "$PORT"
        wait_ready http "$host" "$PORT"
        ;;
    tls-plain)
        make_selfsigned_cert
        launch tls openssl s_server -quiet -accept "127.0.0.1:$PORT" -cert "$DIR/cert.pem" -key "$DIR/key.pem"
        wait_ready tls "$host" "$PORT"
        ;;
    ipv6-first)
        make_selfsigned_cert
        write_xrdp_ini 127.0.0.1 "$PORT" tls high "TLSv1.2, TLSv1.3" ""
        printf '::1 %s\n127.0.0.1 %s\n' "$LAB_V6_NAME" "$LAB_V6_NAME" >"$DIR/hosts"
        launch_xrdp
        wait_ready xrdp "$host" "$PORT" --x224
        local v6
        v6=$("$LAB_PYTHON" "$LABPY" connect ::1 "$PORT" --timeout 2)
        if [[ "$v6" != refused* ]]; then
            FAIL_REASON="[::1]:$PORT is not refused ($v6): something listens there"
            false
        fi
        extra="name=$LAB_V6_NAME hosts=$DIR/hosts"
        ;;
    netns-drop | netns-reject)
        netns_setup "$PORT"
        host=$NS_ADDR
        make_selfsigned_cert "IP:$NS_ADDR"
        write_xrdp_ini "$NS_ADDR" "$PORT" tls high "TLSv1.2, TLSv1.3" ""
        launch_xrdp "$NS"
        wait_ready xrdp "$host" "$PORT" --x224 "$NS"
        local ipt rule
        ipt=$(netns_iptables "$NS") || die "no working iptables inside $NS"
        if [[ "$KIND" == netns-drop ]]; then
            rule="INPUT -p tcp --dport $PORT -j DROP"
        else
            rule="INPUT -p tcp --dport $PORT -j REJECT --reject-with tcp-reset"
        fi
        state_set iptables "$ipt"
        state_set iptables_rule "$rule"
        # shellcheck disable=SC2086
        ip netns exec "$NS" "$ipt" -A $rule
        extra="netns=$NS host_side=$NS_HOST_ADDR iptables=$ipt"
        # The same rule for the namespace's IPv6 address (nothing listens there: without the
        # rule it would answer with a reset, so netns-drop would not drop).
        local ipt6=${ipt/iptables/ip6tables}
        if [[ -n "$NS_ADDR6" ]] && ip netns exec "$NS" "$ipt6" -S INPUT >/dev/null 2>&1; then
            state_set ip6tables "$ipt6"
            state_set ip6tables_rule "$rule"
            # shellcheck disable=SC2086
            ip netns exec "$NS" "$ipt6" -A $rule
            extra="$extra host6=$NS_ADDR6"
        fi
        ;;
    esac

    trap - EXIT
    echo "kind=$KIND host=$host port=$PORT user=$user password=$password pidfile=$DIR/pids${extra:+ $extra}"
}

do_stop() {
    [[ -d "$DIR" ]] || return 0
    stop_processes
    netns_teardown
    if [[ -f "$DIR/state" ]]; then mv -f "$DIR/state" "$DIR/state.stopped"; fi
    return 0
}

# ---------------------------------------------------------------- up / down

lab_base() { echo "${TMPDIR:-/tmp}/rdpshim-lab"; }

do_up() {
    local base port=${1:-19389} kind line failed=0
    base=$(lab_base)
    mkdir -p "$base"
    printf '%-15s %-16s %-6s %-26s %s\n' KIND ADDRESS PORT CREDENTIALS NOTES
    for kind in "${KINDS[@]}"; do
        if line=$("$LAB_SCRIPT_DIR/lab.sh" start "$kind" "$port" "$base/$kind" 2>"$base/$kind.err"); then
            local -A kv=()
            local w
            for w in $line; do kv[${w%%=*}]=${w#*=}; done
            local creds="-" notes=""
            [[ -n "${kv[user]}" ]] && creds="${kv[user]}/${kv[password]}"
            [[ -n "${kv[name]:-}" ]] && notes="name=${kv[name]} (run the client under: $LAB_SCRIPT_DIR/with-hosts.sh ${kv[hosts]})"
            [[ -n "${kv[display]:-}" ]] && notes="DISPLAY=${kv[display]} ${kv[screen]}"
            [[ -n "${kv[netns]:-}" ]] && notes="netns=${kv[netns]} via ${kv[iptables]}"
            printf '%-15s %-16s %-6s %-26s %s\n' "$kind" "${kv[host]}" "${kv[port]}" "$creds" "$notes"
            unset kv
        else
            printf '%-15s FAILED (see %s)\n' "$kind" "$base/$kind.err"
            sed 's/^/    /' "$base/$kind.err" | head -n 20
            failed=1
        fi
        port=$((port + 1))
    done
    return "$failed"
}

do_down() {
    local base d
    base=$(lab_base)
    [[ -d "$base" ]] || return 0
    local -a jobs=()
    for d in "$base"/*/; do
        [[ -d "$d" ]] || continue
        "$LAB_SCRIPT_DIR/lab.sh" stop "${d%/}" &
        jobs+=($!)
    done
    local j rc=0
    for j in "${jobs[@]}"; do wait "$j" || rc=1; done
    return "$rc"
}

# Stop and remove harness directories (BASE/rdpshim-lab-<pid>-<n>-<kind>, made by the Rust
# harness) whose owning process <pid> no longer exists, e.g. after a test run was killed.
do_gc() {
    local base=${1:-${TMPDIR:-/tmp}} d name owner n=0
    for d in "$base"/rdpshim-lab-[0-9]*-[0-9]*-*/; do
        [[ -d "$d" ]] || continue
        name=$(basename "$d")
        owner=${name#rdpshim-lab-}
        owner=${owner%%-*}
        [[ "$owner" =~ ^[0-9]+$ ]] || continue
        [[ -e "/proc/$owner" ]] && continue
        "$LAB_SCRIPT_DIR/lab.sh" stop "${d%/}" || true
        rm -rf -- "${d%/}"
        n=$((n + 1))
    done
    ((n == 0)) || echo "lab.sh gc: removed $n stale lab dir(s) under $base" >&2
    return 0
}

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

main() {
    (($# >= 1)) || usage
    local cmd=$1
    shift
    case "$cmd" in
    start)
        (($# == 3)) || usage
        [[ $EUID -eq 0 ]] || die "must run as root (mount and network namespaces)"
        do_start "$@"
        ;;
    stop)
        (($# == 1)) || usage
        DIR=$1
        if [[ -d "$DIR" ]]; then DIR=$(cd "$DIR" && pwd); fi
        do_stop
        ;;
    kinds)
        local k
        for k in "${KINDS[@]}"; do printf '%-15s %s\n' "$k" "$(kind_description "$k")"; done
        ;;
    up) do_up "$@" ;;
    down) do_down ;;
    gc) do_gc "$@" ;;
    *) usage ;;
    esac
}

main "$@"
