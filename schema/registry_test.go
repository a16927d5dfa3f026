package schema

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const tinySchema = `{"type":"record","name":"T","fields":[{"name":"currency","type":"string"},{"name":"merchant_id","type":"string"}]}`

// countingServer answers GET /schemas/ids/{id} with respond and counts the
// requests per path.
func countingServer(t *testing.T, respond func(w http.ResponseWriter, r *http.Request), opts ...RegistryOption) (*Registry, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		respond(w, r)
	}))
	t.Cleanup(srv.Close)
	reg, err := NewRegistry(srv.URL+"/", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return reg, &hits
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestRegistrySchemaErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        any
		unknown     bool
		unavailable bool
		invalid     bool
		cached      bool
	}{
		{"404 40403", 404, map[string]any{"error_code": 40403, "message": "Schema not found"}, true, false, false, false},
		{"404 plain", 404, "not json", true, false, false, false},
		{"500", 500, map[string]any{"error_code": 50001, "message": "store error"}, false, true, false, false},
		{"503 html", 503, "<html>", false, true, false, false},
		{"429", 429, nil, false, true, false, false},
		{"401", 401, map[string]any{"error_code": 40101, "message": "unauthorized"}, false, false, false, false},
		{"200 not json", 200, "garbage", false, true, false, false},
		{"not avro", 200, map[string]any{"schema": "{}", "schemaType": "PROTOBUF"}, false, false, true, true},
		{"does not compile", 200, map[string]any{"schema": `{"type":"nope"}`}, false, false, true, true},
		{"unknown type", 200, map[string]any{"schema": "{}", "schemaType": "XML"}, false, false, true, true},
	}
	const retries = 2
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
				if s, ok := tc.body.(string); ok {
					w.WriteHeader(tc.status)
					io.WriteString(w, s)
					return
				}
				writeJSON(w, tc.status, tc.body)
			}, WithRetries(retries, time.Millisecond))
			for range 2 {
				_, err := reg.Schema(context.Background(), 7)
				if err == nil {
					t.Fatal("Schema succeeded")
				}
				if got := errors.Is(err, ErrUnknownSchema); got != tc.unknown {
					t.Errorf("ErrUnknownSchema = %v (%v)", got, err)
				}
				if got := errors.Is(err, ErrRegistryUnavailable); got != tc.unavailable {
					t.Errorf("ErrRegistryUnavailable = %v (%v)", got, err)
				}
				if got := errors.Is(err, ErrInvalidSchema); got != tc.invalid {
					t.Errorf("ErrInvalidSchema = %v (%v)", got, err)
				}
				var re *RegistryError
				if tc.status != 200 && (!errors.As(err, &re) || re.StatusCode != tc.status) {
					t.Errorf("no RegistryError with status %d in %v", tc.status, err)
				}
			}
			// Two calls; retryable failures are tried 1+retries times
			// each; unusable schemas are cached.
			want := int64(2)
			switch {
			case tc.cached:
				want = 1
			case tc.unavailable:
				want = 2 * (1 + retries)
			}
			if hits.Load() != want {
				t.Errorf("%d requests, want %d", hits.Load(), want)
			}
		})
	}
}

func TestRegistryConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	reg, err := NewRegistry("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = reg.Schema(context.Background(), 1)
	if !errors.Is(err, ErrRegistryUnavailable) || errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("err = %v, want ErrRegistryUnavailable only", err)
	}
	if err := reg.Ping(context.Background()); !errors.Is(err, ErrRegistryUnavailable) {
		t.Fatalf("Ping = %v", err)
	}
}

func TestRegistryCacheAndSingleflight(t *testing.T) {
	release := make(chan struct{})
	reg, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/schemas/ids/9" {
			t.Errorf("path %s", r.URL.Path)
		}
		<-release
		writeJSON(w, 200, map[string]any{"schema": tinySchema})
	})
	const n = 32
	var wg sync.WaitGroup
	got := make([]*Schema, n)
	for i := range n {
		wg.Go(func() {
			s, err := reg.Schema(context.Background(), 9)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		})
	}
	time.Sleep(50 * time.Millisecond) // let them all queue on the one fetch
	close(release)
	wg.Wait()
	for _, s := range got {
		if s != got[0] || s == nil || s.ID != 9 || s.Codec == nil {
			t.Fatalf("different or empty schemas: %p %p", s, got[0])
		}
	}
	if _, err := reg.Schema(context.Background(), 9); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 {
		t.Fatalf("%d requests for one id, want 1", hits.Load())
	}
}

func TestRegistryWaiterContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	reg, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := reg.Schema(ctx, 1)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRegistryUnavailable) || errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("err = %v, want only the context's error", err)
	}
}

func TestRegistryRegisterAndAuth(t *testing.T) {
	reg, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "alice" || pass != "s3cret" {
			writeJSON(w, 401, map[string]any{"error_code": 40101, "message": "bad credentials"})
			return
		}
		switch {
		case r.Method == http.MethodPost && r.URL.EscapedPath() == "/subjects/a%2Fb-value/versions":
			if ct := r.Header.Get("Content-Type"); ct != contentType {
				t.Errorf("content type %q", ct)
			}
			var body map[string]string
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["schema"] != tinySchema || len(body) != 1 {
				t.Errorf("body %v %v", body, err)
			}
			writeJSON(w, 200, map[string]any{"id": 42})
		case r.Method == http.MethodGet && r.URL.Path == "/subjects":
			writeJSON(w, 200, []string{})
		default:
			t.Errorf("unexpected %s %s (%s)", r.Method, r.URL.Path, r.URL.RawPath)
			w.WriteHeader(500)
		}
	})
	ctx := context.Background()
	if err := reg.Ping(ctx); err == nil || errors.Is(err, ErrRegistryUnavailable) {
		t.Fatalf("Ping without credentials = %v, want a non-retryable error", err)
	}

	authed, err := NewRegistry(reg.base, WithBasicAuth("alice", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if err := authed.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := authed.Register(ctx, "a/b-value", tinySchema)
	if err != nil || id != 42 {
		t.Fatalf("Register = %d, %v", id, err)
	}

	// Credentials in the URL work the same way and never show in errors.
	inURL, err := NewRegistry(strings.Replace(reg.base, "http://", "http://alice:s3cret@", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := inURL.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	wrong, _ := NewRegistry(strings.Replace(reg.base, "http://", "http://alice:hunter2@", 1))
	if err := wrong.Ping(ctx); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Ping with wrong credentials = %v", err)
	}
}

func TestNewRegistryBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8081", "ftp://x", "http://", "http://h/?q=1", "http://a b"} {
		if _, err := NewRegistry(u); err == nil {
			t.Errorf("NewRegistry(%q) succeeded", u)
		}
	}
}

// TestRegistrySrfake checks the client against srfake's REST API.
func TestRegistrySrfake(t *testing.T) {
	v := loadVectors(t)
	reg, _ := startContractRegistry(t, v)
	ctx := context.Background()
	for _, e := range v.Registry {
		s, err := reg.Schema(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != e.ID || s.Codec == nil {
			t.Fatalf("schema %d: %+v", e.ID, s)
		}
	}
	// Registering again returns the same id.
	id, err := reg.Register(ctx, v.Registry[1].Subject, readSchemaFile(t, v.Registry[1].SchemaFile))
	if err != nil || id != v.Registry[1].ID {
		t.Fatalf("re-register = %d, %v", id, err)
	}
	if _, err := reg.Schema(ctx, 999); !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("Schema(999) = %v", err)
	}
	if s, _ := reg.Schema(ctx, 1); s.Name() != "payments.v1.EncryptedTransaction" {
		t.Fatalf("Name = %q", s.Name())
	}
}
