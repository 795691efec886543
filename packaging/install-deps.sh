#!/usr/bin/env bash
# Install what packaging/ needs on Debian 12 (as root): the build dependencies and these
# packages through tests/lab/install-deps.sh, then cargo-deb. Idempotent: does nothing when
# all is there.
#   packaging/install-deps.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(
    dpkg-dev # dpkg-shlibdeps: cargo-deb's $auto depends
    man-db   # man: the .deb round trip reads the installed pages
    ruby     # ruby -c on the Homebrew formula, and its test block (Minitest comes with it)
    perl     # the vendored-openssl build (OpenSSL's Configure needs the full perl)
    make     # the vendored-openssl build
)
# cargo-deb from crates.io, pinned so that CI builds the same package from the same tree.
CARGO_DEB_VERSION=3.8.0

tests/lab/install-deps.sh "${packages[@]}"
if [[ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]]; then
    echo "packaging/install-deps.sh: cargo install cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi
