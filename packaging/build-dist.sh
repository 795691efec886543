#!/usr/bin/env bash
# Builds a release tarball: the stripped binary, its man page and shell completions
# (generated from the same clap definitions as the parser).
#   packaging/build-dist.sh [--vendored-openssl]   -> target/dist/rdpshim-VERSION-TARGET.tar.gz
# --vendored-openssl builds OpenSSL in (no system libssl needed; use it for macOS releases).
set -euo pipefail
cd "$(dirname "$0")/.."
features=()
if [[ "${1:-}" == --vendored-openssl ]]; then features=(--features vendored-openssl); fi
cargo build --release -p rdpshim "${features[@]}"
bin=target/release/rdpshim
version=$("$bin" --version | awk '{print $2}')
target=$(rustc -vV | awk '/^host:/ {print $2}')
stage=target/dist/rdpshim-$version-$target
rm -rf "$stage" && mkdir -p "$stage/completions"
cp "$bin" "$stage/"
"$bin" generate man >"$stage/rdpshim.1"
"$bin" generate bash >"$stage/completions/rdpshim.bash"
"$bin" generate zsh >"$stage/completions/_rdpshim"
"$bin" generate fish >"$stage/completions/rdpshim.fish"
cp README.md "$stage/"
tar -C target/dist -czf "$stage.tar.gz" "$(basename "$stage")"
echo "$stage.tar.gz ($(du -h "$stage/rdpshim" | cut -f1) binary)"
