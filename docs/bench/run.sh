#!/usr/bin/env bash
# The floe bench runs behind BENCHMARKS.md, in the order they appear there.
# Each writes its Markdown table to stdout and results.csv/json + chart.png
# under $OUT/<name>. Run on an otherwise idle machine: the whole set takes
# about 20 minutes on 2 cores.
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

# Every run's tables stay under $OUT/data until the end: deleting tens of
# thousands of files makes file creation on ext4 several times slower for
# a while, which would be charged to the next run.
run() { # name, args...
	local name=$1
	shift
	echo "== $name: floe bench $*" | tee -a "$OUT/summary.md"
	"$floe" bench --out "$OUT/$name" --data-dir "$OUT/data/$name" "$@" 2>"$OUT/$name.log" | tee -a "$OUT/summary.md"
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

# (With SHM=1 the second --data-dir, on tmpfs, wins.)
if [ "${SHM:-0}" = 1 ]; then
	run shm-1s --events 1000000 --triggers 1s --data-dir /dev/shm/floe-bench/1s
	run shm-rate20k --events 400000 --rate 20000 --triggers 1s --data-dir /dev/shm/floe-bench/rate20k
	rm -rf /dev/shm/floe-bench
fi
rm -rf "$OUT/data"
