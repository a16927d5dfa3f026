package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/floe-io/floe/ingest"
)

// rangeSpec is one end of a backfill range: earliest, latest,
// offsets:P=O[,P=O] or time:RFC3339.
type rangeSpec struct {
	kind    string // "earliest", "latest", "offsets", "time"
	offsets map[int32]int64
	at      time.Time
}

func parseRangeSpec(s string) (rangeSpec, error) {
	switch {
	case s == "earliest" || s == "latest":
		return rangeSpec{kind: s}, nil
	case strings.HasPrefix(s, "offsets:"):
		rs := rangeSpec{kind: "offsets", offsets: map[int32]int64{}}
		var errs []error
		for _, kv := range strings.Split(strings.TrimPrefix(s, "offsets:"), ",") {
			p, o, ok := strings.Cut(strings.TrimSpace(kv), "=")
			pn, perr := strconv.ParseInt(p, 10, 32)
			on, oerr := strconv.ParseInt(o, 10, 64)
			if !ok || perr != nil || oerr != nil || pn < 0 || on < 0 {
				errs = append(errs, fmt.Errorf("want partition=offset, got %q", kv))
				continue
			}
			rs.offsets[int32(pn)] = on
		}
		return rs, errors.Join(errs...)
	case strings.HasPrefix(s, "time:"):
		t, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(s, "time:"))
		if err != nil {
			return rangeSpec{}, fmt.Errorf("want time:RFC3339 (e.g. time:2026-11-20T00:00:00Z), got %q", s)
		}
		return rangeSpec{kind: "time", at: t}, nil
	}
	return rangeSpec{}, fmt.Errorf("want earliest, latest, offsets:P=O[,P=O] or time:RFC3339, got %q", s)
}

// offsetSource is what resolving a range needs from Kafka.
type offsetSource interface {
	Watermarks(tp ingest.TopicPartition) (low, high int64, err error)
	OffsetForTime(tp ingest.TopicPartition, t time.Time) (int64, error)
}

// partRange is the backfill range of one partition: [From, To).
type partRange struct {
	TP       ingest.TopicPartition
	From, To int64
	// Resume is where the table says an earlier run of this backfill got
	// to (-1 if it never committed this partition).
	Resume int64
}

// Start is where this run begins.
func (r partRange) Start() int64 {
	if r.Resume >= 0 {
		return max(r.Resume, r.From)
	}
	return r.From
}

// Rows is how many offsets are left to read.
func (r partRange) Rows() int64 { return max(0, r.To-r.Start()) }

// resolveRanges turns --from and --to into offsets per partition. A
// partition left out of --from offsets:... is not part of the backfill;
// one left out of --to offsets:... reads to its end.
func resolveRanges(src offsetSource, topic string, parts []int32, from, to rangeSpec) ([]partRange, error) {
	var out []partRange
	var errs []error
	known := map[int32]bool{}
	for _, p := range parts {
		known[p] = true
	}
	for _, spec := range []rangeSpec{from, to} {
		for p := range spec.offsets {
			if !known[p] {
				errs = append(errs, fmt.Errorf("partition %d: topic %s has partitions %v", p, topic, parts))
			}
		}
	}
	for _, p := range parts {
		if from.kind == "offsets" {
			if _, ok := from.offsets[p]; !ok {
				continue
			}
		}
		tp := ingest.TopicPartition{Topic: topic, Partition: p}
		low, high, err := src.Watermarks(tp)
		if err != nil {
			errs = append(errs, fmt.Errorf("partition %d: watermarks: %w", p, err))
			continue
		}
		f, err := resolveOne(src, tp, from, low, high, low)
		if err != nil {
			errs = append(errs, fmt.Errorf("--from, partition %d: %w", p, err))
			continue
		}
		t, err := resolveOne(src, tp, to, low, high, high)
		if err != nil {
			errs = append(errs, fmt.Errorf("--to, partition %d: %w", p, err))
			continue
		}
		// Offsets beyond what the log holds are clamped: records deleted
		// by retention cannot be read, and the end is the end seen now.
		f = min(max(f, low), high)
		t = min(max(t, low), high)
		out = append(out, partRange{TP: tp, From: f, To: max(f, t), Resume: -1})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TP.Partition < out[j].TP.Partition })
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no partition is in the range"))
	}
	return out, errors.Join(errs...)
}

func resolveOne(src offsetSource, tp ingest.TopicPartition, spec rangeSpec, low, high, unlisted int64) (int64, error) {
	switch spec.kind {
	case "earliest":
		return low, nil
	case "latest":
		return high, nil
	case "offsets":
		if o, ok := spec.offsets[tp.Partition]; ok {
			return o, nil
		}
		return unlisted, nil
	case "time":
		return src.OffsetForTime(tp, spec.at)
	}
	return 0, fmt.Errorf("unknown range kind %q", spec.kind)
}
