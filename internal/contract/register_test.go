package contract_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-io/floe/internal/contract"
)

type vectors struct {
	Registry []struct {
		ID         uint32 `json:"id"`
		Subject    string `json:"subject"`
		SchemaFile string `json:"schema_file"`
	} `json:"registry"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "contract", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEntriesMatchVectors(t *testing.T) {
	v := loadVectors(t)
	entries := contract.Entries()
	if len(entries) != len(v.Registry) {
		t.Fatalf("%d entries, vectors list %d", len(entries), len(v.Registry))
	}
	for i, e := range entries {
		r := v.Registry[i]
		if e.Name != r.SchemaFile || e.Subject != r.Subject {
			t.Errorf("entry %d = %s under %s, vectors say %s under %s", i, e.Name, e.Subject, r.SchemaFile, r.Subject)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "testdata", "contract", "schemas", r.SchemaFile))
		if err != nil {
			t.Fatal(err)
		}
		if e.Schema != string(want) {
			t.Errorf("embedded %s differs from testdata", e.Name)
		}
	}
}

func TestRegisterFreshRegistry(t *testing.T) {
	reg := srfake.NewRegistry()
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	ctx := context.Background()

	ids, err := contract.Register(ctx, srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	v := loadVectors(t)
	got := []uint32{ids.Envelope, ids.V1, ids.V2, ids.V3, ids.BadV4}
	for i, r := range v.Registry {
		if got[i] != r.ID {
			t.Errorf("%s: id %d, vectors say %d", r.SchemaFile, got[i], r.ID)
		}
	}

	again, err := contract.Register(ctx, srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if again != ids {
		t.Errorf("second registration gave %+v, first %+v", again, ids)
	}
}

func TestRegisterErrors(t *testing.T) {
	if _, err := contract.Register(context.Background(), "", nil); err == nil {
		t.Error("empty URL: no error")
	}
	srv := httptest.NewServer(nil) // 404 on every path
	defer srv.Close()
	if _, err := contract.Register(context.Background(), srv.URL, srv.Client()); err == nil {
		t.Error("404 registry: no error")
	}
}
