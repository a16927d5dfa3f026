package catalog

import (
	"strings"
	"testing"
)

// Catalog and warehouse errors show URIs with their passwords redacted,
// also for URIs that do not parse and for unreachable servers.
func TestOpenErrorsRedactSecrets(t *testing.T) {
	for _, c := range []struct{ uri, warehouse, secret string }{
		{"mysql://u:SECRET-1@db/x", t.TempDir(), "SECRET-1"},
		{"u:SECRET-2@db", t.TempDir(), "SECRET-2"},
		{"postgres://u:SECRET-3@127.0.0.1:1/db?connect_timeout=2", t.TempDir(), "SECRET-3"},
		{"postgres://u@127.0.0.1:1/db?password=SECRET-4&connect_timeout=2", t.TempDir(), "SECRET-4"},
		{"sqlite://" + t.TempDir() + "/c.db", "s3://k:SECRET-5@bucket:bad/x", "SECRET-5"},
	} {
		_, err := Open(t.Context(), c.uri, c.warehouse, nil)
		if err == nil {
			t.Errorf("%s: opened", c.uri)
			continue
		}
		if strings.Contains(err.Error(), c.secret) {
			t.Errorf("%s: the secret is in the error: %v", c.uri, err)
		}
	}
}
