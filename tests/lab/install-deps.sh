#!/usr/bin/env bash
# Install what tests/lab needs on Debian 12 (as root). Idempotent: does nothing when all is there.
#   tests/lab/install-deps.sh [PACKAGE...]   lab servers, build dependencies, and the peers
#                               the tests compare rdpshim with (xfreerdp, sslscan, nmap); and the
#                               PACKAGEs given (packaging/install-deps.sh passes its own)
set -euo pipefail

packages=(
    xrdp                # xrdp-* kinds (also makes /etc/xrdp/rsakeys.ini)
    freerdp2-shadow-x11 # shadow-* kinds (freerdp-shadow-cli)
    winpr-utils         # winpr-hash: SAM file for shadow-nla
    freerdp2-x11        # xfreerdp: the reference client for checks by hand
    xvfb                # X display for the shadow kinds
    x11-xserver-utils   # xsetroot: non-uniform root window
    x11-apps            # xclock on the shadow screen, xwd for screenshots (bridge tests, open's client window)
    iproute2            # ip netns/veth, ss
    iptables            # netns-drop / netns-reject
    openssl             # certificates
    python3             # closer / staller / probes (stdlib only)
    util-linux          # unshare, setsid, flock
    libssl-dev          # building rdpshim: the openssl crate (legacy TLS)
    pkg-config          # building rdpshim: finds libssl
    gcc                 # building rdpshim: ring, openssl-sys
    gnome-keyring       # a real Secret Service for the keyring tests
    dbus-x11            # dbus-launch for a private session bus
    dbus                # dbus-run-session / dbus-daemon
    sslscan             # lab tests (diagnose): TLS findings compared with sslscan --rdp
    nmap                # lab tests (diagnose): security layers compared with rdp-enum-encryption
    xdotool             # lab tests (open, bridge): find the client's window, type into it
    zsh                 # lab tests (completion): the generated zsh script parses (zsh -n)
    fish                # lab tests (completion): saved hosts complete in fish (complete -C)
    "$@"
)

if [[ $EUID -ne 0 ]]; then
    echo "install-deps.sh: run as root" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    echo "install-deps.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The xrdp package makes its RSA keys in postinst; make sure they exist (xrdp needs them
# even for TLS-only configurations).
if [[ ! -s /etc/xrdp/rsakeys.ini ]]; then
    xrdp-keygen xrdp /etc/xrdp/rsakeys.ini
fi
echo "install-deps.sh: lab dependencies present"
