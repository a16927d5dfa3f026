package catalog_test

import (
	"context"
	"io"
	"sync"
	"testing"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/internal/testserver"
)

// TestPostgresConcurrentOpen: several processes starting at once on a
// fresh PostgreSQL database all open the catalog (each creates the
// catalog's tables if missing; PostgreSQL's CREATE TABLE IF NOT EXISTS
// races with itself and one of them used to fail with "duplicate key value
// violates unique constraint pg_type_typname_nsp_index", seen with two
// coordinated floe run processes).
func TestPostgresConcurrentOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := testserver.StartPostgres(t)
	for round := range 3 {
		uri := pg.NewDatabase(t)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				cat, err := catalog.Open(context.Background(), uri, t.TempDir(), nil)
				if err == nil {
					_ = cat.(io.Closer).Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, opener %d: %v", round, i, err)
			}
		}
	}
}
