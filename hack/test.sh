#!/usr/bin/env bash
# hack/test.sh: go test with everything the tests start (control planes, PostgreSQL servers,
# Git servers) under a temporary folder of its own, then a check that nothing outlived them:
# a process whose command line names that folder is a leak, reported and killed, and fails
# the run. Arguments go to go test.
set -uo pipefail
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flyt-test-XXXXXX")
chmod 1777 "$tmp" # like /tmp: PostgreSQL runs as its own user when the tests run as root
trap 'rm -rf "$tmp"' EXIT
TMPDIR=$tmp go test "$@"
status=$?
# Stopped processes may take a moment to be reaped.
for _ in 1 2 3 4 5; do
	pgrep -f -- "$tmp/" >/dev/null || break
	sleep 1
done
if left=$(pgrep -af -- "$tmp/"); then
	echo "hack/test.sh: processes the tests started are still running:" >&2
	echo "$left" >&2
	pkill -KILL -f -- "$tmp/" || true
	status=1
else
	echo "hack/test.sh: no process the tests started is left running"
fi
exit $status
