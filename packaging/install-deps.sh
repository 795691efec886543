#!/usr/bin/env bash
# Install what packaging/ needs on Debian 12 (as root), beyond the build dependencies in
# tests/lab/install-deps.sh. Idempotent: does nothing when all is there.
#   packaging/install-deps.sh
set -euo pipefail

packages=(
    dpkg-dev # dpkg-shlibdeps: cargo-deb's $auto depends
    man-db   # man: the .deb round trip reads the installed pages
    ruby     # ruby -c on the Homebrew formula, and its test block (Minitest comes with it)
    perl     # the vendored-openssl build (OpenSSL's Configure needs the full perl)
    make     # the vendored-openssl build
)
# cargo-deb from crates.io, pinned so that CI builds the same package from the same tree.
CARGO_DEB_VERSION=3.8.0

if [[ $EUID -ne 0 ]]; then
    echo "packaging/install-deps.sh: run as root" >&2
    exit 1
fi
missing=()
for p in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    echo "packaging/install-deps.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [[ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]]; then
    echo "packaging/install-deps.sh: cargo install cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi
