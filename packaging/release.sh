#!/usr/bin/env bash
# Release artifacts for the version in Cargo.toml, into OUT (default target/dist):
#
#   packaging/release.sh [--vendored-openssl] [--target TRIPLE] [--out DIR] [--ref REF]
#                        [--source-only] [--allow-dirty]
#
#   rdpshim-VERSION.tar.gz          the source: `git archive` of REF (default HEAD), gzip -n
#   rdpshim-VERSION-TRIPLE.tar.gz   rdpshim-VERSION-TRIPLE/{rdpshim, man/*.1, completions/*,
#                                   README.md, LICENSE-MIT, LICENSE-APACHE} (not with --source-only)
#   SHA256SUMS                      every rdpshim-VERSION*.tar.gz in OUT (run once per target
#                                   into the same OUT; each run rewrites the file for all)
#   rdpshim.rb                      packaging/homebrew/rdpshim.rb with its url and sha256 lines
#                                   naming this source tarball: the formula to publish
#
# Builds with `cargo build --release --locked`. --vendored-openssl builds OpenSSL into the
# binary (feature vendored-openssl): the macOS release, so the binary does not depend on a
# Homebrew libssl; the script then checks that the binary links no libssl. --target
# cross-builds (the toolchain for TRIPLE must be installed). A tree with uncommitted changes
# is refused (the binary would not match the source tarball) unless --allow-dirty.
# SOURCE_DATE_EPOCH defaults to REF's commit time: the tarballs' file dates and the man
# pages' date follow it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

vendored=0 source_only=0 allow_dirty=0 target="" out="target/dist" ref=HEAD
while (($#)); do
    case "$1" in
    --vendored-openssl) vendored=1 ;;
    --source-only) source_only=1 ;;
    --allow-dirty) allow_dirty=1 ;;
    --target) target=${2:?--target wants a triple}; shift ;;
    --out) out=${2:?--out wants a directory}; shift ;;
    --ref) ref=${2:?--ref wants a git revision}; shift ;;
    *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
    shift
done
log() { echo "release: $*" >&2; }
die() { log "$*"; exit 1; }

# sha256sum (GNU) or shasum (macOS), both printing "HASH  FILE".
if command -v sha256sum >/dev/null; then sha256() { sha256sum "$@"; }; else sha256() { shasum -a 256 "$@"; }; fi
if ((!allow_dirty)) && [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
    die "uncommitted changes (commit them, or --allow-dirty)"
fi
commit=$(git rev-parse --verify "$ref^{commit}") || die "no commit $ref"
# For the packaging steps only (gen-assets, tar): given to cargo, it would rebuild the C
# build scripts (ring, openssl-sys) at every new commit.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct "$commit")}
# Reproducible tarballs where the tar is GNU tar; BSD tar (macOS) has no such options.
# (Written for bash 3.2 too, the macOS /bin/bash: hence the ${a[@]+...} expansion below.)
tar_flags=()
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
    tar_flags=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch")
fi
version=$(git show "$commit:client/Cargo.toml" "$commit:Cargo.toml" |
    sed -n 's/^version = "\([^"]*\)".*/\1/p' | head -n 1)
[[ -n "$version" ]] || die "no version in Cargo.toml at $ref"
mkdir -p "$out"
out=$(cd "$out" && pwd)

# ---------------------------------------------------------------- source tarball
src="rdpshim-$version.tar.gz"
git archive --format=tar --prefix="rdpshim-$version/" "$commit" | gzip -9n >"$out/$src"
log "$src from $(git rev-parse --short "$commit")"

# ---------------------------------------------------------------- binary tarball
if ((!source_only)); then
    cargo_args=(--release --locked -p rdpshim)
    if [[ -n "$target" ]]; then cargo_args+=(--target "$target"); fi
    if ((vendored)); then cargo_args+=(--features vendored-openssl); fi
    env -u SOURCE_DATE_EPOCH cargo build "${cargo_args[@]}" >&2
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    triple=${target:-$(rustc -vV | sed -n 's/^host: //p')}
    bin="$target_dir/${target:+$target/}release/rdpshim"
    [[ "$("$bin" --version)" == "rdpshim $version" ]] || die "$bin is not rdpshim $version"
    if ((vendored)); then
        # The point of the vendored build: no libssl/libcrypto from the system or Homebrew.
        if command -v otool >/dev/null; then links=$(otool -L "$bin"); else links=$(readelf -d "$bin"); fi
        if grep -Eq 'libssl|libcrypto' <<<"$links"; then die "vendored build still links OpenSSL: $links"; fi
        log "vendored OpenSSL: $bin links no libssl"
    fi
    name="rdpshim-$version-$triple"
    stage="$out/$name"
    rm -rf -- "$stage"
    mkdir -p "$stage"
    cp "$bin" "$stage/rdpshim"
    SOURCE_DATE_EPOCH=$epoch packaging/gen-assets.sh "$bin" "$stage" >&2
    cp README.md LICENSE-MIT LICENSE-APACHE "$stage/"
    tar -C "$out" ${tar_flags[@]+"${tar_flags[@]}"} -cf - "$name" | gzip -9n >"$out/$name.tar.gz"
    rm -rf -- "$stage"
    log "$name.tar.gz"
fi

# ---------------------------------------------------------------- sums and formula
(cd "$out" && sha256 rdpshim-"$version"*.tar.gz >SHA256SUMS)
src_sha=$(cd "$out" && sha256 "$src" | cut -d' ' -f1)
url="https://github.com/rdpshim/rdpshim/releases/download/v$version/$src"
# Exactly the url and sha256 lines change; the rest of the formula is the reviewed template.
sed -e "s|^  url \".*\"$|  url \"$url\"|" -e "s|^  sha256 \".*\"$|  sha256 \"$src_sha\"|" \
    packaging/homebrew/rdpshim.rb >"$out/rdpshim.rb"
grep -qF "  sha256 \"$src_sha\"" "$out/rdpshim.rb" || die "the formula template has no sha256 line"
log "SHA256SUMS, rdpshim.rb (url $url)"
cat "$out/SHA256SUMS"
