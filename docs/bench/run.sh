#!/usr/bin/env bash
# The floe bench runs behind BENCHMARKS.md, in the order they appear there.
# Each writes its Markdown table to stdout and results.csv/json + chart.png
# under $OUT/<name>. Run on an otherwise idle machine: the whole set takes
# about 25 minutes on 2 cores.
#
#   docs/bench/run.sh [out-dir]          (default /tmp/floe-bench-runs)
#
# SHM=1 also runs the 1 s trigger and the fixed-rate runs with every
# warehouse and catalog on tmpfs (/dev/shm), which takes the local disk's
# file-creation cost out of the numbers.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-/tmp/floe-bench-runs}"
mkdir -p "$OUT"
go build -o "$OUT/floe" ./cmd/floe
floe="$OUT/floe"

run() { # name, args...
	local name=$1
	shift
	echo "== $name: floe bench $*" | tee -a "$OUT/summary.md"
	"$floe" bench --out "$OUT/$name" "$@" 2>"$OUT/$name.log" | tee -a "$OUT/summary.md"
}

# Trigger table, max rate, 1,000 merchants.
run triggers --events 1000000 --triggers 100ms,250ms,500ms,1s,2s,5s,10s
# Fixed rate (latency), 1,000 merchants.
run rate20k --events 400000 --rate 20000 --triggers 250ms,500ms,1s,2s,5s
# Merchants scaling at 1 s and 10 s.
for m in 10 100 1000 10000; do
	run "merchants$m" --events 1000000 --merchants "$m" --triggers 1s,10s
done
# Before/after: iceberg-go's Parquet writer against the lean one.
run writer-iceberg-go --events 300000 --triggers 1s --parquet-writer iceberg-go
run writer-lean --events 300000 --triggers 1s --parquet-writer lean

if [ "${SHM:-0}" = 1 ]; then
	mkdir -p /dev/shm/floe-bench
	run shm-1s --events 1000000 --triggers 1s --data-dir /dev/shm/floe-bench
	run shm-rate20k --events 400000 --rate 20000 --triggers 1s --data-dir /dev/shm/floe-bench
	rm -rf /dev/shm/floe-bench
fi
