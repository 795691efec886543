#!/usr/bin/env bash
# CI: packaging/release.sh as a release would run it, checked: the tarballs hold what they
# should, SHA256SUMS verifies, the formula it writes names the source tarball by its real
# checksum and differs from packaging/homebrew/rdpshim.rb in the url and sha256 lines only,
# `ruby -c` accepts both, the formula's `test do` block passes against the binary from the
# release tarball, and the source tarball is reproducible.
#
#   packaging/release-test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$SECONDS
fail() { echo "release-test: FAILED: $*" >&2; exit 1; }
packaging/install-deps.sh # ruby
out=$(mktemp -d "${TMPDIR:-/tmp}/rdpshim-release-test.XXXXXX")
trap 'rm -rf -- "$out"' EXIT

echo "== release.sh"
packaging/release.sh --out "$out/dist"
version=$(sed -n 's/^version = "\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
triple=$(rustc -vV | sed -n 's/^host: //p')
src="rdpshim-$version.tar.gz" bin_tar="rdpshim-$version-$triple.tar.gz"

echo "== checksums"
(cd "$out/dist" && sha256sum -c SHA256SUMS) || fail "SHA256SUMS does not verify"
grep -q " $src\$" "$out/dist/SHA256SUMS" || fail "SHA256SUMS lacks $src"
grep -q " $bin_tar\$" "$out/dist/SHA256SUMS" || fail "SHA256SUMS lacks $bin_tar"
sum=$(sha256sum "$out/dist/$src" | cut -d' ' -f1)
formula="$out/dist/rdpshim.rb"
grep -qxF "  sha256 \"$sum\"" "$formula" || fail "the formula's sha256 line is not $sum: $(grep sha256 "$formula")"
grep -qxF "  url \"https://github.com/rdpshim/rdpshim/releases/download/v$version/$src\"" "$formula" ||
    fail "the formula's url does not name $src: $(grep '  url' "$formula")"
changed=$({ diff packaging/homebrew/rdpshim.rb "$formula" || true; } | grep '^[<>]' | sed 's/^[<>] *//' | cut -d' ' -f1 | sort -u | tr '\n' ' ')
[[ "$changed" == "sha256 " || "$changed" == "sha256 url " ]] || fail "the written formula differs from the template in more than url/sha256: $changed"
echo "formula: sha256 $sum = SHA256SUMS = sha256sum $src"

echo "== ruby -c"
ruby -c packaging/homebrew/rdpshim.rb
ruby -c "$formula"

echo "== tarball contents"
listing=$(tar -tzf "$out/dist/$bin_tar")
for member in rdpshim man/rdpshim.1 man/rdpshim-connect.1 man/rdpshim-diagnose.1 man/rdpshim-matrix.1 \
    man/rdpshim-profile.1 man/rdpshim-import.1 man/rdpshim-bridge.1 completions/rdpshim.bash completions/_rdpshim \
    completions/rdpshim.fish README.md LICENSE-MIT LICENSE-APACHE; do
    grep -qxF "rdpshim-$version-$triple/$member" <<<"$listing" || fail "$bin_tar lacks $member"
done
src_listing=$(tar -tzf "$out/dist/$src" | sed "s|^rdpshim-$version/||" | grep -v '/$' | sed '/^$/d' | sort)
[[ "$src_listing" == "$(git ls-files | sort)" ]] || fail "$src is not the tracked files of HEAD"

echo "== the formula's test block, on the released binary"
tar -C "$out" -xzf "$out/dist/$bin_tar"
ruby packaging/homebrew/formula-test.rb "$formula" "$out/rdpshim-$version-$triple" "$version"

echo "== the source tarball is reproducible"
packaging/release.sh --source-only --out "$out/again" 2>/dev/null >/dev/null
cmp "$out/dist/$src" "$out/again/$src" || fail "two runs gave different source tarballs"

echo "release test ok in $((SECONDS - t0)) s"
