package tabletest

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/schema"
)

// Contract is the identifier of the contract table in an Env.
var Contract = table.Identifier{"payments", "transactions"}

// Env is one SQLite catalog file and a local warehouse in the test's
// temporary directory. Each Open is a separate catalog connection, standing
// in for a separate process.
type Env struct {
	t testing.TB
	// Dir is the temporary directory holding both.
	Dir string
	// URI and Warehouse are what catalog.Open takes (floe's --catalog and
	// --warehouse).
	URI, Warehouse string
}

// NewEnv makes an empty Env.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	dir := t.TempDir()
	return &Env{t: t, Dir: dir, URI: "sqlite://" + filepath.Join(dir, "catalog.db"), Warehouse: filepath.Join(dir, "warehouse")}
}

// NewContractEnv makes an Env holding the contract table (Contract), created
// as floe creates it (schema.TableSchema, schema.PartitionSpec) with props.
func NewContractEnv(t testing.TB, props iceberggo.Properties) *Env {
	t.Helper()
	e := NewEnv(t)
	sc := schema.TableSchema()
	e.CreateTable(Contract, sc, schema.PartitionSpec(sc), props)
	return e
}

// Open opens a new connection to the catalog, closed when the test ends.
func (e *Env) Open() icecatalog.Catalog {
	e.t.Helper()
	cat, err := catalog.Open(context.Background(), e.URI, e.Warehouse, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = cat.(io.Closer).Close() })
	return cat
}

// CreateTable creates ident (props set on creation) unless it exists.
func (e *Env) CreateTable(ident table.Identifier, sc *iceberggo.Schema, spec iceberggo.PartitionSpec, props iceberggo.Properties) *table.Table {
	e.t.Helper()
	tbl, err := catalog.EnsureTable(context.Background(), e.Open(), ident, sc, spec, props)
	if err != nil {
		e.t.Fatal(err)
	}
	return tbl
}

// Load loads ident through a new connection.
func (e *Env) Load(ident table.Identifier) *table.Table {
	e.t.Helper()
	tbl, err := e.Open().LoadTable(context.Background(), ident)
	if err != nil {
		e.t.Fatal(err)
	}
	return tbl
}

// Writer is a Writer of ident on cat (nil: a new connection) that retries
// a conflicting commit at once; opts come after and may override that.
func (e *Env) Writer(cat icecatalog.Catalog, ident table.Identifier, opts ...iceberg.WriterOption) *iceberg.Writer {
	e.t.Helper()
	if cat == nil {
		cat = e.Open()
	}
	base := []iceberg.WriterOption{iceberg.WithBackoff(func(int) time.Duration { return 0 })}
	w, err := iceberg.NewWriter(context.Background(), cat, ident, append(base, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}
