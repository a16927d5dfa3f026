package iceberg

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	iceberggo "github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/klauspost/compress/zstd"
)

// leanPlan is how the lean writer writes one table's records: the Parquet
// layout, the metrics mode of every column and the identity partition
// columns. planLean returns a reason instead when the table needs something
// only iceberg-go's writer does (nested or other column types, non-identity
// partitions, a sort order, bloom filters, other formats or codecs); the
// batch then goes through iceberg-go.
type leanPlan struct {
	layout  pqLayout
	colIdx  []int         // record column of each layout column
	modes   []metricsMode // per layout column
	iceType []iceberggo.Type
	parts   []leanPart
	spec    iceberggo.PartitionSpec
	target  int64 // write.target-file-size-bytes
	// fileRows is set in a coarse plan (coarse.go): each partition's rows
	// are sorted by the default spec's other partition columns and cut
	// into files of about fileRows rows.
	fileRows int
	// coarse, when set, is this (default-spec) plan's coarse plan, used
	// for a record whose rows span more than coarseAbove partitions.
	coarse      *leanPlan
	coarseAbove int
}

// leanPart is one identity partition field.
type leanPart struct {
	fieldID int    // partition field id
	name    string // partition field name
	col     int    // layout column of its source
}

type metricsMode struct {
	kind  byte // 'n'one, 'c'ounts, 't'runcate, 'f'ull
	trunc int
}

func parseMetricsMode(s string) (metricsMode, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "none":
		return metricsMode{kind: 'n'}, nil
	case "counts":
		return metricsMode{kind: 'c'}, nil
	case "full":
		return metricsMode{kind: 'f'}, nil
	}
	if n, ok := strings.CutPrefix(s, "truncate("); ok {
		if n, ok := strings.CutSuffix(n, ")"); ok {
			if v, err := strconv.Atoi(n); err == nil && v > 0 {
				return metricsMode{kind: 't', trunc: v}, nil
			}
		}
	}
	return metricsMode{}, fmt.Errorf("metrics mode %q", s)
}

// planLean compiles the lean plan for records of schema sc written to tbl.
func planLean(tbl *table.Table, sc *arrow.Schema) (*leanPlan, string) {
	props := tbl.Properties()
	if f := props.Get(table.WriteFormatDefaultKey, "parquet"); !strings.EqualFold(f, "parquet") {
		return nil, "write format " + f
	}
	if !tbl.SortOrder().IsUnsorted() {
		return nil, "table has a sort order"
	}
	for k, v := range props {
		if strings.HasPrefix(k, "write.parquet.bloom-filter-enabled") && strings.EqualFold(v, "true") {
			return nil, "bloom filters"
		}
	}
	if sc.NumFields() > 100 {
		return nil, "more than 100 columns"
	}
	p := &leanPlan{spec: tbl.Spec()}
	codec, level := props.Get(table.ParquetCompressionKey, table.ParquetCompressionDefault), props.Get(table.ParquetCompressionLevelKey, "")
	switch strings.ToLower(codec) {
	case "zstd":
		p.layout.codec.id = codecZstd
		p.layout.codec.level = zstd.SpeedDefault
		if level != "" {
			n, err := strconv.Atoi(level)
			if err != nil {
				return nil, "compression level " + level
			}
			if n != -1 {
				p.layout.codec.level = zstd.EncoderLevelFromZstd(n)
			}
		}
	case "snappy":
		p.layout.codec.id = codecSnappy
	case "uncompressed", "none":
		p.layout.codec.id = codecUncompressed
	default:
		return nil, "compression codec " + codec
	}
	var err error
	if p.layout.pageBytes, err = intProp(props, "write.parquet.page-size-bytes", 1<<20); err != nil {
		return nil, err.Error()
	}
	if p.layout.pageRows, err = intProp(props, "write.parquet.page-row-limit", 20000); err != nil {
		return nil, err.Error()
	}
	target, err := intProp(props, table.WriteTargetFileSizeBytesKey, table.WriteTargetFileSizeBytesDefault)
	if err != nil {
		return nil, err.Error()
	}
	p.target = int64(target)
	defMode, err := parseMetricsMode(props.Get("write.metadata.metrics.default", "truncate(16)"))
	if err != nil {
		return nil, err.Error()
	}

	schema := tbl.Schema()
	for i, f := range sc.Fields() {
		nf, ok := schema.FindFieldByName(f.Name)
		if !ok {
			return nil, "column " + f.Name + " not in the table"
		}
		c := pqColumn{name: f.Name, fieldID: nf.ID, required: nf.Required}
		want := arrow.Type(-1)
		switch t := nf.Type.(type) {
		case iceberggo.StringType:
			c.kind, want = pqString, arrow.STRING
		case iceberggo.BinaryType:
			c.kind, want = pqBinary, arrow.BINARY
		case iceberggo.BooleanType:
			c.kind, want = pqBool, arrow.BOOL
		case iceberggo.Int32Type:
			c.kind, want = pqInt32, arrow.INT32
		case iceberggo.DateType:
			c.kind, want = pqDate, arrow.DATE32
		case iceberggo.Int64Type:
			c.kind, want = pqInt64, arrow.INT64
		case iceberggo.TimestampType, iceberggo.TimestampTzType:
			c.kind, want = pqTimestamp, arrow.TIMESTAMP
			_, c.utc = t.(iceberggo.TimestampTzType)
			if ts, ok := f.Type.(*arrow.TimestampType); !ok || ts.Unit != arrow.Microsecond {
				return nil, "column " + f.Name + ": timestamp not in microseconds"
			}
		case iceberggo.DecimalType:
			if t.Precision() > 18 {
				return nil, "column " + f.Name + ": decimal precision over 18"
			}
			c.kind, want = pqDecimal, arrow.DECIMAL128
			c.precision, c.scale = int32(t.Precision()), int32(t.Scale())
		default:
			return nil, "column " + f.Name + ": type " + nf.Type.String()
		}
		if f.Type.ID() != want {
			return nil, "column " + f.Name + ": arrow type " + f.Type.String()
		}
		mode := defMode
		if v, ok := props["write.metadata.metrics.column."+f.Name]; ok {
			if mode, err = parseMetricsMode(v); err != nil {
				return nil, err.Error()
			}
		}
		p.layout.cols = append(p.layout.cols, c)
		p.colIdx = append(p.colIdx, i)
		p.modes = append(p.modes, mode)
		p.iceType = append(p.iceType, nf.Type)
	}

	for _, pf := range p.spec.Fields() {
		if _, ok := pf.Transform.(iceberggo.IdentityTransform); !ok || len(pf.SourceIDs) != 1 {
			return nil, "partition field " + pf.Name + ": not an identity transform"
		}
		col := -1
		for i, c := range p.layout.cols {
			if c.fieldID == pf.SourceIDs[0] {
				col = i
			}
		}
		if col < 0 {
			return nil, "partition field " + pf.Name + ": source column not in the record"
		}
		switch p.layout.cols[col].kind {
		case pqString, pqInt32, pqInt64:
		default:
			return nil, "partition field " + pf.Name + ": source type"
		}
		p.parts = append(p.parts, leanPart{fieldID: pf.FieldID, name: pf.Name, col: col})
	}
	return p, ""
}

func intProp(props iceberggo.Properties, key string, def int) (int, error) {
	v, ok := props[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("table property %s=%q", key, v)
	}
	return n, nil
}

// leanGroup is one partition's rows of a record, with the partition's
// values (by partition field id) and path (one PartitionSegment per field).
type leanGroup struct {
	rows []int32
	vals map[int]any
	path string
}

// groupRows groups rec's rows by their partition values, in order of first
// appearance. It is the one place the lean writer computes partitions.
func (p *leanPlan) groupRows(rec arrow.RecordBatch) ([]leanGroup, error) {
	n := int(rec.NumRows())
	if len(p.parts) == 0 {
		rows := make([]int32, n)
		for i := range rows {
			rows[i] = int32(i)
		}
		return []leanGroup{{rows: rows}}, nil
	}
	arrs := make([]arrow.Array, len(p.parts))
	for i, part := range p.parts {
		arrs[i] = rec.Column(p.colIdx[part.col])
		switch arrs[i].(type) {
		case *array.String, *array.Int32, *array.Int64:
		default:
			return nil, fmt.Errorf("partition column of arrow type %s", arrs[i].DataType())
		}
	}
	index := make(map[string]int)
	var groups []leanGroup
	var key []byte
	for r := range n {
		key = key[:0]
		for _, a := range arrs {
			if a.IsNull(r) {
				key = append(key, 0)
				continue
			}
			key = append(key, 1)
			switch a := a.(type) {
			case *array.String:
				v := a.Value(r)
				key = binary.AppendUvarint(key, uint64(len(v)))
				key = append(key, v...)
			case *array.Int32:
				key = binary.LittleEndian.AppendUint32(key, uint32(a.Value(r)))
			case *array.Int64:
				key = binary.LittleEndian.AppendUint64(key, uint64(a.Value(r)))
			}
		}
		g, ok := index[string(key)]
		if !ok {
			g = len(groups)
			index[string(key)] = g
			vals, path := p.partition(arrs, r)
			groups = append(groups, leanGroup{vals: vals, path: path})
		}
		groups[g].rows = append(groups[g].rows, int32(r))
	}
	return groups, nil
}

// partition returns the partition values and path of row r, given the
// partition source columns in spec order.
func (p *leanPlan) partition(arrs []arrow.Array, r int) (map[int]any, string) {
	vals := make(map[int]any, len(p.parts))
	var path strings.Builder
	for i, part := range p.parts {
		if i > 0 {
			path.WriteByte('/')
		}
		a := arrs[i]
		if a.IsNull(r) {
			vals[part.fieldID] = nil
			path.WriteString(PartitionSegment(part.name, "null"))
			continue
		}
		var s string
		switch a := a.(type) {
		case *array.String:
			s = strings.Clone(a.Value(r))
			vals[part.fieldID] = s
		case *array.Int32:
			vals[part.fieldID] = a.Value(r)
			s = strconv.FormatInt(int64(a.Value(r)), 10)
		case *array.Int64:
			vals[part.fieldID] = a.Value(r)
			s = strconv.FormatInt(a.Value(r), 10)
		}
		path.WriteString(PartitionSegment(part.name, s))
	}
	return vals, path.String()
}

// leanEncoders keeps encoders (their zstd state and buffers) between
// batches. Not a sync.Pool: that one is emptied by every other GC cycle, and
// a zstd encoder is a megabyte of tables to allocate again.
var leanEncoders struct {
	mu   sync.Mutex
	free []*pqEncoder
}

func getEncoder(codec pqCodec) (*pqEncoder, error) {
	var e *pqEncoder
	leanEncoders.mu.Lock()
	if n := len(leanEncoders.free); n > 0 {
		e = leanEncoders.free[n-1]
		leanEncoders.free = leanEncoders.free[:n-1]
	}
	leanEncoders.mu.Unlock()
	if e == nil {
		e = &pqEncoder{}
	}
	if level := codec.level; codec.id == codecZstd && (e.zstd == nil || e.zstdLevel != level) {
		z, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
		if err != nil {
			return nil, err
		}
		small, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithNoEntropyCompression(true))
		if err != nil {
			return nil, err
		}
		e.zstd, e.zstdSmall, e.zstdLevel = z, small, level
	}
	return e, nil
}

func putEncoder(e *pqEncoder) {
	// A very large file's buffers are not worth keeping.
	if cap(e.out) > 64<<20 {
		e.out = nil
	}
	// The stats alias the last record's buffers: let them go.
	clear(e.stats)
	leanEncoders.mu.Lock()
	defer leanEncoders.mu.Unlock()
	if len(leanEncoders.free) < runtime.GOMAXPROCS(0) {
		leanEncoders.free = append(leanEncoders.free, e)
	}
}

// writeLean writes rec's rows as one Parquet data file per partition, on up
// to workers goroutines, and returns their DataFiles; or, when p has a
// coarse plan and the rows span more than p.coarseAbove partitions, as
// that plan's files. It does not release
// rec. On error the files it wrote are removed.
func writeLean(ctx context.Context, tbl *table.Table, p *leanPlan, rec arrow.RecordBatch, writeID string, task, workers int) ([]iceberggo.DataFile, error) {
	groups, err := p.groupRows(rec)
	if err != nil {
		return nil, err
	}
	if p.coarse != nil && len(groups) > p.coarseAbove {
		groups = p.coarse.coarseGroups(rec, p, groups)
		p = p.coarse
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("table io: %w", err)
	}
	locs, err := tbl.LocationProvider()
	if err != nil {
		return nil, fmt.Errorf("location provider: %w", err)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(groups))

	files := make([][]iceberggo.DataFile, len(groups))
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		failed   atomic.Bool
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc, err := getEncoder(p.layout.codec)
			if err != nil {
				fail(err)
				return
			}
			defer putEncoder(enc)
			for {
				g := int(next.Add(1) - 1)
				if g >= len(groups) || failed.Load() {
					return
				}
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				name := fmt.Sprintf("%05d-%d-%s-%05d", w, task, writeID, g)
				dfs, err := p.writeFiles(fsys, locs, enc, rec, &groups[g], groups[g].rows, name, files[g][:0])
				files[g] = dfs
				if err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var out []iceberggo.DataFile
	for _, dfs := range files {
		out = append(out, dfs...)
	}
	if firstErr != nil {
		removeFiles(ctx, tbl, out)
		return nil, firstErr
	}
	return out, nil
}

// writeFiles encodes rows (of partition g) as a data file, stores it and
// appends its DataFile to out. A file over the target size is split in two
// (by rows) and each half written the same way.
func (p *leanPlan) writeFiles(fsys icebergio.IO, locs table.LocationProvider, enc *pqEncoder, rec arrow.RecordBatch, g *leanGroup, rows []int32, name string, out []iceberggo.DataFile) ([]iceberggo.DataFile, error) {
	if err := enc.encode(&p.layout, rec, p.colIdx, rows); err != nil {
		return out, err
	}
	if int64(len(enc.out)) > p.target && len(rows) > 1 {
		half := len(rows) / 2
		out, err := p.writeFiles(fsys, locs, enc, rec, g, rows[:half], name+"-a", out)
		if err != nil {
			return out, err
		}
		return p.writeFiles(fsys, locs, enc, rec, g, rows[half:], name+"-b", out)
	}
	name += ".parquet"
	if g.path != "" {
		name = g.path + "/" + name
	}
	path := locs.NewDataLocation(name)
	if err := storeFile(fsys, path, enc.out); err != nil {
		return out, fmt.Errorf("write %s: %w", path, err)
	}
	df, err := p.dataFile(enc, path, g.vals, int64(len(rows)), int64(len(enc.out)))
	if err != nil {
		return out, err
	}
	return append(out, df), nil
}

func storeFile(fsys icebergio.IO, path string, data []byte) error {
	wfs, ok := fsys.(icebergio.WriteFileIO)
	if !ok {
		return fmt.Errorf("table io %T cannot write files", fsys)
	}
	return wfs.WriteFile(path, data)
}

// dataFile builds the Iceberg DataFile with the metrics of enc's last file.
func (p *leanPlan) dataFile(enc *pqEncoder, path string, partVals map[int]any, rows, size int64) (iceberggo.DataFile, error) {
	b, err := iceberggo.NewDataFileBuilder(p.spec, iceberggo.EntryContentData, path, iceberggo.ParquetFile,
		partVals, nil, nil, rows, size)
	if err != nil {
		return nil, err
	}
	m := p.metrics(enc)
	// The builder copies the maps into its own lists and clones the
	// bounds, so enc's maps and bound buffer are reused for the next file.
	b.ColumnSizes(m.sizes).ValueCounts(m.values).NullValueCounts(m.nulls).SplitOffsets([]int64{4})
	if len(m.lower) > 0 {
		b.LowerBoundValues(m.lower)
	}
	if len(m.upper) > 0 {
		b.UpperBoundValues(m.upper)
	}
	return b.Build(), nil
}

// fileMetrics are the Iceberg column metrics of a file, by field id.
type fileMetrics struct {
	sizes, values, nulls map[int]int64
	lower, upper         map[int][]byte
	bounds               []byte // backing store of lower and upper
}

// metrics fills enc's fileMetrics with the metrics of its last file. They
// stay valid until the next call with enc.
func (p *leanPlan) metrics(enc *pqEncoder) *fileMetrics {
	m := &enc.metrics
	if m.sizes == nil {
		n := len(p.layout.cols)
		m.sizes, m.values, m.nulls = make(map[int]int64, n), make(map[int]int64, n), make(map[int]int64, n)
		m.lower, m.upper = make(map[int][]byte, n), make(map[int][]byte, n)
	}
	clear(m.sizes)
	clear(m.values)
	clear(m.nulls)
	clear(m.lower)
	clear(m.upper)
	m.bounds = m.bounds[:0]
	for i := range p.layout.cols {
		c, st, mode := &p.layout.cols[i], &enc.stats[i], p.modes[i]
		if mode.kind == 'n' {
			continue
		}
		m.sizes[c.fieldID] = st.compressed
		m.values[c.fieldID] = st.values
		m.nulls[c.fieldID] = st.nulls
		if mode.kind == 'c' || !st.has {
			continue
		}
		// Empty bounds (an empty string or binary) are left out, as
		// iceberg-go's writer does.
		var lo, hi []byte
		m.bounds, lo, hi = icebergBounds(m.bounds, c, st, mode)
		if len(lo) > 0 {
			m.lower[c.fieldID] = lo
		}
		if len(hi) > 0 {
			m.upper[c.fieldID] = hi
		}
	}
	return m
}

// icebergBounds serializes a chunk's min and max as Iceberg single-value
// binary (spec, Appendix D), truncated as the metrics mode asks: strings to
// a prefix of code points (upper bound: the prefix with its last code point
// incremented), binary to a prefix of bytes. It appends both to buf and
// returns them as full slices of it. A nil upper bound means none could be
// formed.
func icebergBounds(buf []byte, c *pqColumn, st *chunkStats, m metricsMode) (out, lo, hi []byte) {
	var l, h []byte
	switch c.kind {
	case pqString:
		l, h = st.minB, st.maxB
		if m.kind == 't' {
			l = truncateUTF8(l, m.trunc)
			h = truncateUTF8Upper(h, m.trunc)
		}
	case pqBinary:
		l, h = st.minB, st.maxB
		if m.kind == 't' {
			if len(l) > m.trunc {
				l = l[:m.trunc]
			}
			h = truncateBytesUpper(h, m.trunc)
		}
	case pqBool:
		l, h = []byte{byte(st.minI)}, []byte{byte(st.maxI)}
	case pqInt32, pqDate:
		buf, lo = appendBound(buf, func(b []byte) []byte { return binary.LittleEndian.AppendUint32(b, uint32(st.minI)) })
		buf, hi = appendBound(buf, func(b []byte) []byte { return binary.LittleEndian.AppendUint32(b, uint32(st.maxI)) })
		return buf, lo, hi
	case pqDecimal:
		var err1, err2 error
		l, err1 = iceberggo.DecimalLiteral{Val: decimal128.FromI64(st.minI), Scale: int(c.scale)}.MarshalBinary()
		h, err2 = iceberggo.DecimalLiteral{Val: decimal128.FromI64(st.maxI), Scale: int(c.scale)}.MarshalBinary()
		if err1 != nil || err2 != nil {
			return buf, nil, nil // cannot happen: it encodes any value
		}
	default:
		buf, lo = appendBound(buf, func(b []byte) []byte { return binary.LittleEndian.AppendUint64(b, uint64(st.minI)) })
		buf, hi = appendBound(buf, func(b []byte) []byte { return binary.LittleEndian.AppendUint64(b, uint64(st.maxI)) })
		return buf, lo, hi
	}
	buf, lo = appendBound(buf, func(b []byte) []byte { return append(b, l...) })
	if h != nil {
		buf, hi = appendBound(buf, func(b []byte) []byte { return append(b, h...) })
	}
	return buf, lo, hi
}

// appendBound appends what add appends to buf and returns that part as a
// slice of its own capacity (a later append to it cannot reach buf).
func appendBound(buf []byte, add func([]byte) []byte) ([]byte, []byte) {
	start := len(buf)
	buf = add(buf)
	return buf, buf[start:len(buf):len(buf)]
}

// truncateUTF8 keeps the first n code points of s.
func truncateUTF8(s []byte, n int) []byte {
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, size := utf8.DecodeRune(s[i:])
		i += size
	}
	return s[:i]
}

// truncateUTF8Upper returns the smallest string of at most n code points
// that is >= every string with prefix truncateUTF8(s, n): s itself when it
// is not longer, else the prefix with its last code point incremented
// (dropping code points that cannot be). nil when there is none.
func truncateUTF8Upper(s []byte, n int) []byte {
	p := truncateUTF8(s, n)
	if len(p) == len(s) {
		return s
	}
	// A copy: s may be a column's buffer, which AppendRune on a prefix of
	// it would overwrite.
	p = append([]byte(nil), p...)
	for len(p) > 0 {
		r, size := utf8.DecodeLastRune(p)
		p = p[:len(p)-size]
		switch {
		case r == 0xD7FF:
			return utf8.AppendRune(p, 0xE000)
		case r < utf8.MaxRune:
			return utf8.AppendRune(p, r+1)
		}
	}
	return nil
}

// truncateBytesUpper is truncateUTF8Upper for bytes.
func truncateBytesUpper(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	p := append([]byte(nil), b[:n]...)
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] < 0xff {
			p[i]++
			return p[:i+1]
		}
	}
	return nil
}
