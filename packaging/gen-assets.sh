#!/usr/bin/env bash
# Renders what a package installs beside the binary, from the built binary itself (the man
# pages and completions come from the clap definitions the binary parses with):
#
#   packaging/gen-assets.sh [--deb] BINARY OUT_DIR
#     OUT_DIR/man/*.1                       rdpshim(1), rdpshim-connect(1), ... (one per command)
#     OUT_DIR/completions/rdpshim.bash, _rdpshim, rdpshim.fish
#   --deb also writes what the .deb needs:
#     OUT_DIR/man/*.1.gz                    gzip -9n (Debian policy; no timestamp, reproducible)
#     OUT_DIR/copyright                     machine-readable debian/copyright (DEP-5)
#     OUT_DIR/changelog.Debian.gz           one entry for this version (Debian policy 12.7)
#
# SOURCE_DATE_EPOCH, when set, dates the man pages (reproducible builds).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deb=0
if [[ "${1:-}" == --deb ]]; then deb=1; shift; fi
(($# == 2)) || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bin=$1 out=$2
[[ -x "$bin" ]] || { echo "gen-assets: no executable at $bin" >&2; exit 1; }

rm -rf -- "$out/man" "$out/completions"
mkdir -p "$out/man" "$out/completions"
"$bin" generate man --out-dir "$out/man"
for shell in bash zsh fish; do
    "$bin" generate "$shell" --out-dir "$out/completions"
done

if ((deb)); then
    for page in "$out"/man/*.1; do gzip -9nc "$page" >"$page.gz"; done
    epoch=${SOURCE_DATE_EPOCH:-$(date +%s)}
    version=$("$bin" --version | cut -d' ' -f2)
    maintainer=$(sed -n 's/^maintainer = "\(.*\)"$/\1/p' "$root/client/Cargo.toml")
    first_year=$(git -C "$root" log --reverse --format=%ad --date=format:%Y 2>/dev/null | sed -n 1p || true)
    year=$(date -u -d "@$epoch" +%Y)
    years=${first_year:-$year}
    if [[ "$years" != "$year" ]]; then years="$years-$year"; fi
    {
        echo "rdpshim ($version-1) unstable; urgency=medium"
        echo
        echo "  * Upstream release $version, packaged with cargo-deb (packaging/deb.sh) from git"
        echo "    $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)."
        echo
        echo " -- $maintainer  $(date -u -R -d "@$epoch")"
    } | gzip -9n >"$out/changelog.Debian.gz"
    # DEP-5: the MIT text in full (Debian has no common copy of it); Apache-2.0 by reference
    # to /usr/share/common-licenses, as Debian policy 12.5 asks.
    {
        cat <<HEAD
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: rdpshim
Upstream-Contact: https://github.com/rdpshim/rdpshim/issues
Source: https://github.com/rdpshim/rdpshim

Files: *
Copyright: $years the rdpshim developers
License: MIT or Apache-2.0

License: MIT
HEAD
        # The license text without its title and copyright line, each line indented; an
        # empty line becomes " ." (DEP-5 continuation lines).
        sed -n '/^Permission/,$p' "$root/LICENSE-MIT" | sed 's/^$/./; s/^/ /'
        cat <<'TAIL'

License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0 (and in LICENSE-APACHE in the source).
TAIL
    } >"$out/copyright"
fi
echo "gen-assets: $(find "$out/man" -name '*.1' | wc -l) man pages, 3 completion files in $out"
