#!/bin/sh
# fuzzkeep.sh PKG TARGET [MAX]: keep what `go test -fuzz` found.
#
# Go keeps the inputs a fuzzer found interesting only in its build cache,
# $(go env GOCACHE)/fuzz/IMPORTPATH/TARGET, which a fresh clone (and CI) does
# not have. This copies them into PKG/testdata/fuzz/TARGET, where plain
# `go test` replays them as regression tests and git keeps them.
#
# To keep that replay quick the harvested inputs are bounded: of those
# already kept and those just found, the MAX (default 200) smallest stay,
# ties broken by name so the choice is the same everywhere. Harvested
# inputs are the ones named as the fuzzer names them (16 hex digits);
# hand-written seeds, with any other name, are never touched.
set -eu
pkg=$1 target=$2 max=${3:-200}
go=${GO:-go}
cache="$($go env GOCACHE)/fuzz/$($go list "./$pkg")/$target"
keep="$pkg/testdata/fuzz/$target"
mkdir -p "$keep"

hashed() { # the fuzzer-named files of a folder, as "SIZE NAME" lines
	[ -d "$1" ] || return 0
	find "$1" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{16}' -printf '%s %f\n'
}
want=$( { hashed "$keep"; hashed "$cache"; } | sort -n -k1,1 -k2,2 |
	awk '!seen[$2]++ { print $2 }' | head -n "$max" | tr '\n' ' ')

added=0 dropped=0
for f in $want; do
	if [ ! -e "$keep/$f" ]; then
		cp "$cache/$f" "$keep/$f"
		added=$((added + 1))
	fi
done
for f in $(hashed "$keep" | cut -d' ' -f2); do
	case " $want" in
	*" $f "*) ;;
	*) rm -f "$keep/$f"; dropped=$((dropped + 1)) ;;
	esac
done
echo "fuzz: $target: kept $added new input(s) in $keep, dropped $dropped larger one(s); $(ls "$keep" | wc -l) file(s) there"
