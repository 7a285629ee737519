#!/usr/bin/env bash
# hack/bench.sh: flyt's benchmarks (make bench). Runs the history store benchmark, then the
# harness cmd/flytbench on a local control plane, which writes a Markdown and a JSON report
# under bench/results/. Knobs (environment):
#   FLYT_BENCH_N=100          apps (each deployed to dev and prod), spread over 50 repositories
#   FLYT_BENCH_RUNS=3         repetitions of each scenario
#   FLYT_BENCH_WORKERS=16     flyt's server.workers (and the direct client's concurrency)
#   FLYT_BENCH_PUSHES=100     pushes in the push-latency scenario (p50 and p99 over them)
#   FLYT_BENCH_HISTORY_N=100000  deploys loaded by the history benchmark (0 skips it)
#   FLYT_BENCH_SKIP=          scenarios to skip: kubectl,direct,flyt,push,idle,git
# Extra arguments go to flytbench (go run ./cmd/flytbench -h lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FLYT_CONTROLPLANE_DIR:=$(hack/controlplane.sh)}"
export FLYT_CONTROLPLANE_DIR

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
history_n=${FLYT_BENCH_HISTORY_N:-100000}
args=()
if [[ $history_n -gt 0 ]]; then
	echo "bench: history store benchmark with $history_n deploys (SQLite)" >&2
	go test -run '^$' -bench BenchmarkStore -benchtime 200x -timeout 2h ./history/ \
		-history.n="$history_n" -history.store=sqlite 2>&1 | tee "$tmp/history.txt" >&2
	args+=(-history-output "$tmp/history.txt")
fi
go build -o "$tmp/flytbench" ./cmd/flytbench
go build -o "$tmp/flyt" ./cmd/flyt
"$tmp/flytbench" -flyt "$tmp/flyt" -out bench/results "${args[@]}" "$@"
