package iceberg

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"

	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/aws/smithy-go"
)

var (
	// ErrFenced means another writer already committed past batch.From for
	// at least one partition. Nothing was committed; the caller must re-read
	// Offsets and resume from there (typically after a rebalance).
	ErrFenced = errors.New("iceberg: fenced: offsets in the table moved past the batch start")

	// ErrConflict means every commit attempt met a concurrent commit and the
	// retry budget ran out. Nothing was committed; the batch may be retried
	// from its From offsets.
	ErrConflict = errors.New("iceberg: commit conflict: retries exhausted")

	// ErrUnknownOutcome means a commit may or may not have landed and the
	// table could not be read back to find out. The caller must re-read
	// Offsets before going on; it must not assume either outcome.
	ErrUnknownOutcome = errors.New("iceberg: commit outcome unknown")

	// ErrInvalidBatch means the batch itself is malformed (no group, To
	// before From, records with the wrong schema). Retrying cannot help.
	ErrInvalidBatch = errors.New("iceberg: invalid batch")
)

// commitErrKind classifies an error returned by Transaction.Commit.
type commitErrKind int

const (
	// commitConflict: the catalog refused the commit because the table
	// changed underneath; nothing was committed. Reload, fence, re-add.
	commitConflict commitErrKind = iota + 1
	// commitUnknown: anything else (timeouts, I/O, 5xx). The catalog may
	// have applied the commit; resolve by looking for the commit id.
	commitUnknown
)

// classifyCommitErr sorts a Transaction.Commit error into a clean conflict or
// an unknown outcome.
//
// iceberg-go wraps catalog CAS failures in table.ErrCommitFailed, but the SQL
// catalog reports a failed requirement (for example "requirement failed:
// branch "main" has changed: expected id 1, found 2") as a plain error. Those
// requirements are validated before anything is written, so they are clean
// conflicts too. table.ErrCommitDiverged (the base snapshot left the branch)
// also committed nothing.
func classifyCommitErr(err error) commitErrKind {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return commitUnknown
	case errors.Is(err, table.ErrCommitFailed), errors.Is(err, table.ErrCommitDiverged):
		return commitConflict
	case strings.Contains(strings.ToLower(err.Error()), "requirement failed"):
		return commitConflict
	default:
		return commitUnknown
	}
}

// IsRetryable reports whether err leaves nothing committed and the same batch
// (re-read from its From offsets) may be tried again: a conflict with retries
// exhausted. ErrFenced, ErrUnknownOutcome and ErrInvalidBatch are not
// retryable as such.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrConflict)
}

var (
	// ErrCatalogUnavailable means the catalog did not answer: refused or
	// dropped connections, timeouts, a locked SQLite file, a REST 5xx.
	// Whatever the request was, the catalog did not refuse it on its
	// merits: the same request may succeed once it answers again. A
	// commit that fails so has an unknown outcome until the table is read
	// back (retry it with CommitRequest.Resume or, for a Writer, the same
	// Batch.CommitID).
	ErrCatalogUnavailable = errors.New("iceberg: catalog unavailable")

	// ErrStorageUnavailable means the object store did not answer
	// (refused or dropped connections, timeouts, 5xx, SlowDown). Nothing
	// written to it since is known to be there.
	ErrStorageUnavailable = errors.New("iceberg: object storage unavailable")
)

// Unavailable returns ErrCatalogUnavailable or ErrStorageUnavailable when
// err says the catalog or the object store did not answer, nil otherwise
// (including for a cancelled context: that is the caller stopping).
func Unavailable(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrStorageUnavailable):
		return ErrStorageUnavailable
	case errors.Is(err, ErrCatalogUnavailable):
		return ErrCatalogUnavailable
	case !transient(err):
		return nil
	case fromStorage(err):
		return ErrStorageUnavailable
	}
	return ErrCatalogUnavailable
}

// markUnavailable wraps err with ErrCatalogUnavailable or
// ErrStorageUnavailable (errors.Is finds both the class and the cause) if
// it is one; otherwise it returns err as is. storage says err comes from
// the object store alone (writing data files), whatever it looks like.
func markUnavailable(err error, storage bool) error {
	kind := Unavailable(err)
	if kind == nil || errors.Is(err, kind) {
		return err
	}
	if storage {
		kind = ErrStorageUnavailable
	}
	return &unavailableError{kind: kind, cause: err}
}

// unavailableError is an outage with its cause. Its message is the
// cause's with partition values taken out of object paths: a failed write
// names its data file, whose directories hold the row values the table is
// partitioned by (decrypted payload fields), and outages are logged.
type unavailableError struct {
	kind, cause error
}

func (e *unavailableError) Error() string {
	return e.kind.Error() + ": " + partitionValue.ReplaceAllString(e.cause.Error(), "${1}=…/")
}

func (e *unavailableError) Unwrap() []error { return []error{e.kind, e.cause} }

// partitionValue matches the value of a name=value/ directory of a path.
var partitionValue = regexp.MustCompile(`([A-Za-z0-9_.-]+)=[^/"\s]*/`)

// MarkStorage wraps err with ErrStorageUnavailable if it says the object
// store did not answer; otherwise it returns err as is. Use it for errors
// of calls that reach only the object store (writing data files).
func MarkStorage(err error) error { return markUnavailable(err, true) }

// transient says whether err is a dependency not answering rather than
// refusing the request on its merits.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, rest.ErrServiceUnavailable) || errors.Is(err, rest.ErrServerError) ||
		errors.Is(err, rest.ErrCommitStateUnknown) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeTooSkewed":
			return true
		}
	}
	msg := strings.ToLower(err.Error())
	for _, s := range transientText {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// transientText are the messages of unavailability whose type some layer
// (database/sql drivers, iceberg-go) flattened to text.
var transientText = []string{
	"connection refused", "connection reset", "broken pipe", "failed to connect",
	"i/o timeout", "timeout", "unexpected eof", "conn closed", "bad connection",
	"server closed", "no such host", "network is unreachable",
	"database is locked", "sqlite_busy", "database table is locked", "sqlite_locked",
	"the database system is shutting down", "the database system is starting up",
	"the database system is in recovery mode", "terminating connection",
	"too many clients", "sqlstate 08", "sqlstate 57p0",
	"service unavailable", "slowdown", "slow down", "internal server error", "bad gateway", "gateway timeout",
	"statuscode: 5", // an AWS SDK response error: https response error StatusCode: 503
}

// fromStorage says whether err comes from the object store (an S3
// operation, a gocloud blob call) rather than the catalog.
func fromStorage(err error) bool {
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return oe.ServiceID == "S3"
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "operation error s3") || strings.Contains(msg, "blob (")
}
