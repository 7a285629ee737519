#!/usr/bin/env bash
# hack/fuzz.sh: run every fuzz target of the module, each for $FUZZTIME (default 30s), going on
# after a failure, then list the targets that failed and exit 1 if any did.
#
# Targets are found, not listed here: each package with a `func Fuzz` in a test file is asked
# for its targets with `go test -list`, so a new target is fuzzed without touching this script.
# A failing input is written by go test to the package's testdata/fuzz/<Target>/; commit it as
# a corpus entry beside the fix, so that plain `go test` checks it from then on.
#
# Environment: FUZZTIME (a go test -fuzztime value: 30s, 2m, 10000x), FUZZMINIMIZETIME (default
# 5s), GO (default go), FUZZFLAGS (more go test flags, such as -parallel=1).
#
# FUZZMINIMIZETIME bounds how long go test shrinks each new input. Its default of 60s is spent on
# every new interesting input too, not only on failures, and with a large seed (a whole
# platform.yaml) both workers shrink for the whole run: FuzzParse made 11 executions in 20s,
# and 20,000 with 3s.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}
read -r -a extra <<<"${FUZZFLAGS:-}"

# Packages (as ./dir) whose test files declare a fuzz target.
mapfile -t pkgs < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | xargs -n1 dirname | sort -u | sed 's|^|./|')
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "hack/fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

targets=()
for pkg in "${pkgs[@]}"; do
	if ! names=$("$GO" test -list '^Fuzz' "$pkg" | grep '^Fuzz'); then
		echo "hack/fuzz.sh: cannot list the fuzz targets of $pkg" >&2
		targets+=("$pkg LIST-FAILED")
		continue
	fi
	for name in $names; do
		targets+=("$pkg $name")
	done
done

echo "hack/fuzz.sh: ${#targets[@]} targets, $FUZZTIME each"
failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	if [ "$name" = LIST-FAILED ]; then
		failed+=("$pkg (listing its targets failed)")
		continue
	fi
	echo "=== fuzz $pkg $name"
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "${extra[@]}" "$pkg"; then
		failed+=("$pkg $name")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo
	echo "hack/fuzz.sh: ${#failed[@]} of ${#targets[@]} targets failed (new inputs are under each package's testdata/fuzz/):"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
echo "hack/fuzz.sh: all ${#targets[@]} targets passed"
