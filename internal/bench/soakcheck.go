package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/scanread"
)

// checkColumns are the table columns a produced event determines (the
// Kafka metadata and _ingested_at columns are the pipeline's own).
var checkColumns = []string{"transaction_id", "event_time", "source", "amount", "currency",
	"user_id", "merchant_id", "status", "channel", "fee_bps", "country"}

// expectations holds, per produced event (by the sequence number in its
// transaction id), a hash of the row it must become; 0 for an invalid
// event. Memory: 8 bytes per event.
type expectations struct {
	mu     sync.Mutex
	hashes []uint64
	seen   []bool
	n      int64
}

func newExpectations(total int64) *expectations {
	return &expectations{hashes: make([]uint64, 0, total+1)}
}

func (x *expectations) add(e devstack.Event) {
	seq, ok := soakSeq(e.TransactionID)
	if !ok {
		return
	}
	var h uint64
	if e.Valid() && e.Expect != nil {
		h = rowHash(expectValues(e.Expect))
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for int64(len(x.hashes)) <= seq {
		x.hashes = append(x.hashes, 0)
	}
	x.hashes[seq] = h
	x.n++
}

func soakSeq(tid string) (int64, bool) {
	s, ok := strings.CutPrefix(tid, soakPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func expectValues(x *devstack.Row) []string {
	opt := func(s *string) string {
		if s == nil {
			return "\x00null"
		}
		return *s
	}
	fee := "\x00null"
	if x.FeeBps != nil {
		fee = strconv.FormatInt(*x.FeeBps, 10)
	}
	return []string{x.TransactionID, x.EventTime.UTC().Format(time.RFC3339Nano), x.Source, x.Amount,
		x.Currency, x.UserID, x.MerchantID, x.Status, opt(x.Channel), fee, opt(x.Country)}
}

func rowHash(vals []string) uint64 {
	h := fnv.New64a()
	for _, v := range vals {
		_, _ = h.Write([]byte(v))
		_, _ = h.Write([]byte{0xff})
	}
	return h.Sum64() | 1 // never 0 (0 marks an invalid event)
}

// SoakCheck is the result of reading the table back.
type SoakCheck struct {
	Produced   int64 `json:"produced"`
	Valid      int64 `json:"valid"`
	Rows       int64 `json:"rows"`
	Missing    int64 `json:"missing"`
	Duplicated int64 `json:"duplicated"`
	Unexpected int64 `json:"unexpected"`
	Different  int64 `json:"values_different"`
	OK         bool  `json:"ok"`
	// Error is set when the table could not be read to the end (the
	// counts are then incomplete).
	Error string `json:"error,omitempty"`
}

// checkRows scans the whole table and compares it with what was produced:
// every valid event exactly once with equal values, nothing else.
func checkRows(ctx context.Context, tbl *table.Table, x *expectations) (SoakCheck, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	chk := SoakCheck{Produced: x.n}
	seen := make([]uint8, len(x.hashes))
	for _, h := range x.hashes {
		if h != 0 {
			chk.Valid++
		}
	}
	// Not one ToArrowRecords over the whole table: it keeps every file's
	// Parquet footer until it ends (see scanread).
	vals := make([]string, len(checkColumns))
	cols := make([]arrow.Array, len(checkColumns))
	_, err := scanread.Records(ctx, tbl, tbl.Scan(table.WithSelectedFields(checkColumns...)), 0, func(rec arrow.RecordBatch) error {
		for i, name := range checkColumns {
			idx := rec.Schema().FieldIndices(name)
			if len(idx) != 1 {
				return fmt.Errorf("column %s not in the scan", name)
			}
			cols[i] = rec.Column(idx[0])
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			chk.Rows++
			for i, a := range cols {
				vals[i] = cellString(a, r)
			}
			seq, ok := soakSeq(vals[0])
			if !ok || seq >= int64(len(x.hashes)) || x.hashes[seq] == 0 {
				chk.Unexpected++
				continue
			}
			if seen[seq] < 255 {
				seen[seq]++
			}
			if rowHash(vals) != x.hashes[seq] {
				chk.Different++
			}
		}
		clear(cols)
		return nil
	})
	if err != nil {
		chk.Error = err.Error()
		return chk, err
	}
	for seq, h := range x.hashes {
		if h == 0 {
			continue
		}
		switch seen[seq] {
		case 0:
			chk.Missing++
		case 1:
		default:
			chk.Duplicated++
		}
	}
	chk.OK = chk.Missing == 0 && chk.Duplicated == 0 && chk.Unexpected == 0 && chk.Different == 0 && chk.Rows == chk.Valid
	if !chk.OK {
		return chk, fmt.Errorf("rows check failed: %d rows for %d valid events: %d missing, %d duplicated, %d unexpected, %d with other values",
			chk.Rows, chk.Valid, chk.Missing, chk.Duplicated, chk.Unexpected, chk.Different)
	}
	return chk, nil
}

func cellString(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "\x00null"
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	}
	return a.ValueStr(i)
}

// liveFilesAndPartitions counts the live data files of tbl and the distinct
// partitions they are in, and how many are outside the default spec, from
// the manifests (one at a time, without column statistics: Scan.PlanFiles
// would hold every file's statistics).
func liveFilesAndPartitions(ctx context.Context, tbl *table.Table) (files, parts, otherSpec int64, err error) {
	seen := map[string]struct{}{}
	def := int32(tbl.Metadata().DefaultPartitionSpec())
	err = scanread.LiveDataFiles(ctx, tbl, tbl.CurrentSnapshot(), func(df iceberggo.DataFile) error {
		files++
		seen[partString(df)] = struct{}{}
		if df.SpecID() != def {
			otherSpec++
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return files, int64(len(seen)), otherSpec, nil
}

func partString(df iceberggo.DataFile) string {
	b, _ := json.Marshal(df.Partition())
	return fmt.Sprintf("%d/%s", df.SpecID(), b)
}

// parseRunLine recognizes the child's "compaction" log lines (JSON).
func parseRunLine(line []byte, at time.Duration) (SoakRunLine, bool) {
	if !strings.Contains(string(line), `"compaction`) {
		return SoakRunLine{}, false
	}
	var m map[string]any
	if json.Unmarshal(line, &m) != nil {
		return SoakRunLine{}, false
	}
	msg, _ := m["msg"].(string)
	num := func(k string) float64 { v, _ := m[k].(float64); return v }
	switch {
	case msg == "compaction":
		return SoakRunLine{T: at.Seconds(), Rewritten: int64(num("files_rewritten")), Written: int64(num("files_written")),
			DurMs: num("duration_ms")}, true
	case strings.HasPrefix(msg, "compaction run failed"):
		return SoakRunLine{T: at.Seconds(), Failed: true, DurMs: num("duration_ms")}, true
	}
	return SoakRunLine{}, false
}
