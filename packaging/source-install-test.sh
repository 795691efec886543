#!/usr/bin/env bash
# CI: README's "from source" install commands, as written there, into a private root
# (CARGO_INSTALL_ROOT), then the installed binary runs; the vendored build must link no
# libssl. `cargo install --path` builds in the workspace's target dir, so the plain install
# reuses the release build of the steps before; the vendored one rebuilds OpenSSL, so it
# runs last and a later release build recompiles the crates it changed.
#
#   packaging/source-install-test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
packaging/install-deps.sh # perl, make for the vendored OpenSSL
fail() { echo "source-install-test: FAILED: $*" >&2; exit 1; }
root=$(mktemp -d "${TMPDIR:-/tmp}/rdpshim-install.XXXXXX")
trap 'rm -rf -- "$root"' EXIT
export CARGO_INSTALL_ROOT=$root
version=$(sed -n 's/^version = "\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)

check() {
    [[ "$("$root/bin/rdpshim" --version)" == "rdpshim $version" ]] || fail "$1: the installed binary is not rdpshim $version"
    "$root/bin/rdpshim" generate man --out-dir "$root/man"
    [[ -s "$root/man/rdpshim-connect.1" ]] || fail "$1: rdpshim generate man wrote no rdpshim-connect.1"
}

t=$SECONDS
echo "== cargo install --locked --path client"
cargo install --locked --path client
check plain
readelf -d "$root/bin/rdpshim" | grep -q 'libssl\.so' || fail "the plain build does not link the system libssl"
echo "plain: $((SECONDS - t)) s, links $(readelf -d "$root/bin/rdpshim" | grep -o 'libssl[^]]*')"

t=$SECONDS
echo "== cargo install --locked --path client --features vendored-openssl"
cargo install --locked --path client --features vendored-openssl
check vendored
if readelf -d "$root/bin/rdpshim" | grep -Eq 'libssl|libcrypto'; then fail "the vendored build links a system OpenSSL"; fi
echo "vendored: $((SECONDS - t)) s, no libssl/libcrypto in NEEDED"
