#!/usr/bin/env bash
# Builds the .deb: the release binary (--locked), then its man pages, completions and
# copyright file (packaging/gen-assets.sh, from the binary), then cargo-deb from
# [package.metadata.deb] in client/Cargo.toml. Prints the .deb's path on stdout.
#
#   packaging/deb.sh
#
# Needs cargo-deb (`cargo install cargo-deb --locked`) and dpkg-shlibdeps (package dpkg-dev),
# which computes the shared-library depends ($auto). SOURCE_DATE_EPOCH defaults to the last
# commit's time, so the same commit gives the same man pages and file dates in the package.
# It is given to the packaging steps only: C build scripts (ring, openssl-sys) rebuild when
# it changes, and it says nothing about the binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo-deb >/dev/null || { echo "deb.sh: needs cargo-deb (cargo install cargo-deb --locked)" >&2; exit 1; }
command -v dpkg-shlibdeps >/dev/null || { echo "deb.sh: needs dpkg-shlibdeps (apt-get install dpkg-dev)" >&2; exit 1; }
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

env -u SOURCE_DATE_EPOCH cargo build --release --locked -p rdpshim >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
SOURCE_DATE_EPOCH=$epoch packaging/gen-assets.sh --deb "$target_dir/release/rdpshim" "$target_dir/release/packaging" >&2
SOURCE_DATE_EPOCH=$epoch cargo deb -p rdpshim --no-build --locked
