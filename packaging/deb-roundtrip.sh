#!/usr/bin/env bash
# CI: the .deb round trip on this machine (Debian 12, as root): build the package, check its
# metadata, install it with dpkg -i, use what it installed as a user would (the binary, two
# man pages, a bash completion), remove it with dpkg -r and check that none of its files is
# left. Installs what it needs first (packaging/install-deps.sh: man-db, dpkg-dev, cargo-deb).
#
#   packaging/deb-roundtrip.sh
#
# Refuses to run when a package named rdpshim is already installed (it would remove it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$SECONDS
step() { echo "== deb round trip: $*"; }
fail() { echo "deb-roundtrip: FAILED: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || fail "run as root (dpkg -i)"
if dpkg-query -W -f='${db:Status-Abbrev}' rdpshim 2>/dev/null | grep -q '^ii'; then
    fail "a package named rdpshim is installed already; remove it first (dpkg -r rdpshim)"
fi

step "tools (packaging/install-deps.sh)"
packaging/install-deps.sh
t_tools=$SECONDS

step "build"
deb=$(packaging/deb.sh | tail -n 1)
[[ -f "$deb" ]] || fail "packaging/deb.sh printed no .deb path (got: $deb)"
version=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "rdpshim"))')
echo "$deb ($(du -h "$deb" | cut -f1))"
t_build=$SECONDS

step "metadata"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libssl3 libc6; do
    grep -Eq "(^|, )$lib( |,|$)" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
[[ "$(dpkg-deb -f "$deb" Version)" == "$version-1" ]] || fail "Version is not $version-1"
contents=$(dpkg-deb -c "$deb" | awk '{print $NF}')
for path in ./usr/bin/rdpshim ./usr/share/man/man1/rdpshim.1.gz ./usr/share/man/man1/rdpshim-connect.1.gz \
    ./usr/share/man/man1/rdpshim-diagnose.1.gz ./usr/share/man/man1/rdpshim-matrix.1.gz \
    ./usr/share/man/man1/rdpshim-profile.1.gz ./usr/share/man/man1/rdpshim-import.1.gz \
    ./usr/share/man/man1/rdpshim-bridge.1.gz \
    ./usr/share/bash-completion/completions/rdpshim ./usr/share/zsh/vendor-completions/_rdpshim \
    ./usr/share/fish/vendor_completions.d/rdpshim.fish ./usr/share/doc/rdpshim/copyright \
    ./usr/share/doc/rdpshim/changelog.Debian.gz; do
    grep -qxF "$path" <<<"$contents" || fail "$path is not in the package"
done

# README's install command names this very file.
grep -qF "dpkg -i ${deb#"$PWD"/}" README.md || fail "README.md does not say: dpkg -i ${deb#"$PWD"/}"

step "dpkg -i"
# A minimal image may exclude man pages and docs from every package (dpkg path-exclude);
# re-include ours so that the round trip tests the package, not the image.
dpkg --path-include='/usr/share/man/man1/rdpshim*' --path-include='/usr/share/doc/rdpshim/*' -i "$deb"
installed=$(dpkg -L rdpshim)

step "use it"
out=$(/usr/bin/rdpshim --version)
[[ "$out" == "rdpshim $version" ]] || fail "/usr/bin/rdpshim --version said: $out"
echo "$out"
help=$(/usr/bin/rdpshim connect --help)
grep -qx 'Examples:' <<<"$help" || fail "rdpshim connect --help shows no examples"
for page in rdpshim rdpshim-connect; do
    text=$(MANWIDTH=100 man "$page" 2>&1) || fail "man $page: $text"
    for section in NAME SYNOPSIS OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES; do
        grep -q "^$section" <<<"$text" || fail "man $page has no $section section"
    done
    echo "man $page: $(wc -l <<<"$text") lines"
done
grep -q -- '--min-security' <<<"$text" || fail "man rdpshim-connect lacks --min-security"
# The completion as bash loads it: source the installed file, find the function it
# registered for rdpshim, and ask it to complete `rdpshim con<TAB>`.
replies=$(bash -c '
    source /usr/share/bash-completion/completions/rdpshim
    fn=$(complete -p rdpshim | sed -n "s/.*-F \([^ ]*\).*/\1/p")
    COMP_WORDS=(rdpshim con) COMP_CWORD=1 COMP_LINE="rdpshim con" COMP_POINT=11
    "$fn" rdpshim con rdpshim
    printf "%s\n" "${COMPREPLY[@]}"')
grep -qx connect <<<"$replies" || fail "bash completion of 'rdpshim con' gave: $replies"
echo "bash: rdpshim con<TAB> -> $(tr '\n' ' ' <<<"$replies")"
grep -q 'License: MIT' /usr/share/doc/rdpshim/copyright || fail "copyright names no MIT license"

step "dpkg -r"
dpkg -r rdpshim
left=()
while IFS= read -r path; do
    # dpkg -L lists the directories too; shared ones (/usr/bin) stay, and must.
    if [[ -e "$path" && ! -d "$path" ]] || [[ -L "$path" ]]; then left+=("$path"); fi
done <<<"$installed"
((${#left[@]} == 0)) || fail "files left after dpkg -r: ${left[*]}"
[[ ! -e /usr/share/doc/rdpshim ]] || fail "/usr/share/doc/rdpshim is left"
if dpkg-query -W -f='${db:Status-Abbrev}' rdpshim 2>/dev/null | grep -q '^ii'; then fail "still installed"; fi

echo "deb round trip ok in $((SECONDS - t0)) s (tools $((t_tools - t0)) s, build $((t_build - t_tools)) s, checks $((SECONDS - t_build)) s)"
