package iceberg_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/aws/smithy-go"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

func TestUnavailableClassification(t *testing.T) {
	s3 := func(err error) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: err}
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"connection refused", fmt.Errorf("load: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), iceberg.ErrCatalogUnavailable},
		{"pgx flattened", errors.New("failed to connect to `user=postgres database=floe_1`: 127.0.0.1:5432 (127.0.0.1): dial error: dial tcp 127.0.0.1:5432: connect: connection refused"), iceberg.ErrCatalogUnavailable},
		{"postgres shutting down", errors.New("FATAL: terminating connection due to administrator command (SQLSTATE 57P01)"), iceberg.ErrCatalogUnavailable},
		{"sqlite locked", errors.New("database is locked (5) (SQLITE_BUSY)"), iceberg.ErrCatalogUnavailable},
		{"deadline", fmt.Errorf("commit: %w", context.DeadlineExceeded), iceberg.ErrCatalogUnavailable},
		{"rest 503", fmt.Errorf("load: %w", rest.ErrServiceUnavailable), iceberg.ErrCatalogUnavailable},
		{"rest 500", fmt.Errorf("load: %w", rest.ErrServerError), iceberg.ErrCatalogUnavailable},
		{"rest commit state unknown", fmt.Errorf("commit: %w", rest.ErrCommitStateUnknown), iceberg.ErrCatalogUnavailable},
		{"s3 connection refused", s3(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), iceberg.ErrStorageUnavailable},
		{"s3 slowdown", s3(&smithy.GenericAPIError{Code: "SlowDown", Message: "Please reduce your request rate."}), iceberg.ErrStorageUnavailable},
		{"gocloud flattened", errors.New(`blob (key "wh/data/x.parquet") (code=Unknown): operation error S3: PutObject, https response error StatusCode: 503`), iceberg.ErrStorageUnavailable},
		{"marked", fmt.Errorf("x: %w", iceberg.ErrStorageUnavailable), iceberg.ErrStorageUnavailable},
		{"cancelled", fmt.Errorf("commit: %w", context.Canceled), nil},
		{"conflict", fmt.Errorf("commit: %w", table.ErrCommitFailed), nil},
		{"rest bad request", fmt.Errorf("load: %w", rest.ErrBadRequest), nil},
		{"s3 access denied", s3(&smithy.GenericAPIError{Code: "AccessDenied"}), nil},
		{"no such table", errors.New("table does not exist"), nil},
		{"nil", nil, nil},
	} {
		if got := iceberg.Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// An outage met writing a data file names the file without the partition
// values in its path (row values of decrypted fields), and keeps the cause
// for errors.Is.
func TestUnavailableHidesPartitionValues(t *testing.T) {
	cause := &url.Error{Op: "Put", URL: "http://127.0.0.1:9000/lake/wh/data/currency=EUR/merchant_id=m-secret%2F42/00000-0-x.parquet",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	err := iceberg.MarkStorage(fmt.Errorf(`blob (key "wh/data/currency=EUR/merchant_id=m-secret+shop/00000-0-x.parquet") (code=Unknown): %w`, cause))
	if !errors.Is(err, iceberg.ErrStorageUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("%v: not an outage keeping its cause", err)
	}
	for _, leak := range []string{"EUR", "m-secret"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("%q leaks %q", err, leak)
		}
	}
	if !strings.Contains(err.Error(), "currency=…/merchant_id=…/00000-0-x.parquet") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("%q: the file and the cause should stay readable", err)
	}
}

// TestRESTCatalogOutage drives iceberg-go's REST client against a server
// that answers its configuration and then 503 (or nothing in time) for
// everything: a Committer's load reports the catalog unavailable, keeping
// the cause.
func TestRESTCatalogOutage(t *testing.T) {
	for _, mode := range []string{"503", "timeout"} {
		t.Run(mode, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if strings.HasSuffix(r.URL.Path, "/v1/config") {
					fmt.Fprint(w, `{"defaults":{},"overrides":{}}`)
					return
				}
				if mode == "timeout" {
					select {
					case <-release:
					case <-r.Context().Done():
					}
					return
				}
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"error":{"message":"down for maintenance","type":"ServiceUnavailableException","code":503}}`)
			}))
			defer srv.Close()
			defer close(release)
			cat, err := rest.NewCatalog(t.Context(), "rest", srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			c, err := iceberg.NewCommitter(cat, ident)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			_, err = c.Load(ctx)
			if !errors.Is(err, iceberg.ErrCatalogUnavailable) {
				t.Fatalf("Load: %v, want ErrCatalogUnavailable", err)
			}
			want := "down for maintenance"
			if mode == "timeout" {
				want = "deadline exceeded"
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Load: %q does not keep the cause (%q)", err, want)
			}
		})
	}
}

// A commit that landed but whose answer was lost with the connection, while
// the catalog cannot be read back: Commit returns at once, the outcome
// unknown and the catalog named; Resume finds the commit by its id.
func TestCommitterOutageLandedThenResumed(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	cat := &faultyCatalog{Catalog: e.Open()}
	c := committer(t, e, cat)
	if _, err := c.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	cat.inject("after-reset")
	cat.mu.Lock()
	cat.failLoads = 1
	cat.mu.Unlock()
	req := iceberg.CommitRequest{IDKey: testIDKey, ID: "x", Stage: emptyAppend("x")}
	res, err := c.Commit(t.Context(), req)
	if !errors.Is(err, iceberg.ErrUnknownOutcome) || !errors.Is(err, iceberg.ErrCatalogUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ErrUnknownOutcome and ErrCatalogUnavailable keeping the cause", err)
	}
	if res.Attempts != 1 || res.Unknown != 1 || cat.calls != 1 {
		t.Fatalf("result %+v, catalog calls %d: want one attempt", res, cat.calls)
	}
	req.Resume = true
	res, err = c.Commit(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Committed || res.Attempts != 0 || cat.calls != 1 {
		t.Fatalf("resumed: result %+v, catalog calls %d: want found without committing again", res, cat.calls)
	}
	if got := snapshotsWith(t, e, "x"); len(got) != 1 || got[0] != res.SnapshotID {
		t.Fatalf("snapshots with id x: %v, want [%d]", got, res.SnapshotID)
	}
}

// A refused commit whose table reads back fine: Commit still returns at
// once (the caller waits out the outage), and Resume commits it once.
func TestCommitterOutageNotLandedThenResumed(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	cat := &faultyCatalog{Catalog: e.Open()}
	c := committer(t, e, cat)
	cat.inject("refused")
	req := iceberg.CommitRequest{IDKey: testIDKey, ID: "x", Stage: emptyAppend("x")}
	res, err := c.Commit(t.Context(), req)
	if !errors.Is(err, iceberg.ErrCatalogUnavailable) || res.Attempts != 1 || res.Committed {
		t.Fatalf("err = %v, result %+v: want ErrCatalogUnavailable after one attempt", err, res)
	}
	req.Resume = true
	res, err = c.Commit(t.Context(), req)
	if err != nil || !res.Committed || res.Attempts != 1 || cat.calls != 2 {
		t.Fatalf("resumed: err %v, result %+v, catalog calls %d", err, res, cat.calls)
	}
	if got := snapshotsWith(t, e, "x"); len(got) != 1 {
		t.Fatalf("snapshots with id x: %v, want one", got)
	}
}

// Writer.Commit of the same batch after an outage left its outcome unknown
// reuses the data files written the first time and finds the commit: the
// rows are in the table once, no data file is written twice.
func TestWriterRetriedAfterOutage(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	cat := &faultyCatalog{Catalog: e.Open()}
	w := e.Writer(cat, ident)
	rs := rows(0, 0, 12, currencies, merchants)
	b := batch(t, mem, w, "g", rs)
	b.CommitID = "7d7f3c8e-0c53-4d5c-9d6e-2f1b7a0c9b11"
	cat.inject("after-reset")
	cat.mu.Lock()
	cat.failLoads = 1
	cat.mu.Unlock()
	first, err := w.Commit(t.Context(), b)
	if !errors.Is(err, iceberg.ErrCatalogUnavailable) {
		t.Fatalf("first commit: %v, want ErrCatalogUnavailable", err)
	}
	again := b
	again.Records = nil // the rows are not needed again: the files are written
	res, err := w.Commit(t.Context(), again)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != first.Files || res.Rows != int64(len(rs)) {
		t.Errorf("retried commit: %d files, %d rows; first wrote %d files of %d rows", res.Files, res.Rows, first.Files, len(rs))
	}
	assertSingleCommit(t, e, b.CommitID, res.SnapshotID)
	if got := tabletest.IDs(t, e.Writer(nil, ident).Table()); len(got) != len(rs) {
		t.Fatalf("%d rows, want %d", len(got), len(rs))
	}
	if cat.calls != 1 {
		t.Errorf("%d catalog commits, want 1 (the retry finds the first)", cat.calls)
	}
}
