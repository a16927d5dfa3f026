package schema

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-io/floe/keys"
)

const contractDir = "../testdata/contract"

type vectorFile struct {
	Keyring  map[string]string `json:"keyring"`
	Registry []struct {
		ID         uint32 `json:"id"`
		Subject    string `json:"subject"`
		SchemaFile string `json:"schema_file"`
	} `json:"registry"`
	Valid []struct {
		Name            string         `json:"name"`
		PayloadSchemaID uint32         `json:"payload_schema_id"`
		Key             string         `json:"key"`
		ValueB64        string         `json:"value_b64"`
		Expect          map[string]any `json:"expect"`
	} `json:"valid"`
	Invalid []struct {
		Name       string `json:"name"`
		ValueB64   string `json:"value_b64"`
		ErrorClass string `json:"error_class"`
		Why        string `json:"why"`
	} `json:"invalid"`
}

func loadVectors(t testing.TB) *vectorFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(contractDir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v vectorFile
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func (v *vectorFile) keyring(t testing.TB) *keys.Keyring {
	t.Helper()
	m := map[string][]byte{}
	for id, b64 := range v.Keyring {
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		m[id] = k
	}
	kr, err := keys.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readSchemaFile(t testing.TB, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(contractDir, "schemas", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// startContractRegistry runs srfake over HTTP on 127.0.0.1 and registers the
// contract schemas through Registry.Register in vectors.json order, checking
// the ids.
func startContractRegistry(t testing.TB, v *vectorFile) (*Registry, *srfake.Registry) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	reg, err := NewRegistry(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := reg.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, e := range v.Registry {
		id, err := reg.Register(ctx, e.Subject, readSchemaFile(t, e.SchemaFile))
		if err != nil {
			t.Fatalf("register %s: %v", e.SchemaFile, err)
		}
		if id != e.ID {
			t.Fatalf("register %s: id %d, want %d", e.SchemaFile, id, e.ID)
		}
	}
	return reg, fake
}

// seededRegistry returns a registry whose cache holds the contract schemas
// and whose HTTP client talks to an empty srfake handler in process (no
// sockets), for fuzzing and benchmarks.
func seededRegistry(t testing.TB, v *vectorFile) *Registry {
	t.Helper()
	fake := srfake.NewRegistry()
	reg, err := NewRegistry("http://registry.invalid", WithHTTPClient(&http.Client{Transport: handlerTransport{fake.Handler()}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range v.Registry {
		s, err := Compile(e.ID, readSchemaFile(t, e.SchemaFile))
		if err != nil {
			t.Fatal(err)
		}
		reg.seed(s)
	}
	return reg
}

// seed puts a compiled schema in the cache (tests only).
func (r *Registry) seed(s *Schema) {
	r.mu.Lock()
	r.cache[s.ID] = cacheEntry{s: s}
	r.mu.Unlock()
}

// handlerTransport serves requests with an http.Handler in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// contractTable is TableSchema evolved by payment-v2 and payment-v3: the
// table of CONTRACT.md section 3.
func contractTable(t testing.TB) *iceberggo.Schema {
	t.Helper()
	sc := TableSchema()
	for _, f := range []string{"payment-v2.avsc", "payment-v3.avsc"} {
		w, err := Compile(100, readSchemaFile(t, f))
		if err != nil {
			t.Fatal(err)
		}
		ch, err := Plan(sc, w)
		if err != nil {
			t.Fatal(err)
		}
		if sc, err = ApplyChanges(sc, ch); err != nil {
			t.Fatal(err)
		}
	}
	return sc
}

// rowSchema is the contract table's Arrow row schema, built the way the
// iceberg writer builds it.
func rowSchema(t testing.TB) *arrow.Schema {
	t.Helper()
	full, err := table.SchemaToArrowSchema(contractTable(t), nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	return RowArrowSchema(full)
}

// class is the test's copy of ingest's error-class mapping.
func class(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrBadMagic):
		return "bad_magic"
	case errors.Is(err, ErrUnknownSchema):
		return "unknown_schema"
	case errors.Is(err, ErrMalformedAvro):
		return "malformed_avro"
	case errors.Is(err, keys.ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, keys.ErrDecryptFailed):
		return "decrypt_failed"
	case errors.Is(err, ErrBadPayload):
		return "bad_payload"
	case errors.Is(err, ErrIncompatibleSchema):
		return "incompatible_schema"
	}
	return "unclassified: " + err.Error()
}
