package schema

import (
	"context"
	"errors"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

const statusEnum = `{"type":"enum","name":"Status","namespace":"payments.v1","symbols":["AUTHORIZED","CAPTURED","REFUNDED","DECLINED"]}`

// paymentUsingStatus is payment-v1 with its enum taken from another subject.
const paymentUsingStatus = `{"type":"record","name":"Payment","namespace":"payments.v1","fields":[
 {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}},
 {"name":"currency","type":"string"},
 {"name":"user_id","type":"string"},
 {"name":"merchant_id","type":"string"},
 {"name":"status","type":"Status"},
 {"name":"previous","type":["null","payments.v1.Status"],"default":null}]}`

// TestRegistryReferences registers a Payment whose enum lives in another
// subject (a schema reference) on srfake, and decodes a payload written
// with it: the referenced type must be resolved for the codec to compile.
func TestRegistryReferences(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	reg, err := NewRegistry(fake.URL(), WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := reg.Register(ctx, "payments.status", statusEnum); err != nil {
		t.Fatal(err)
	}
	id, err := reg.RegisterWithReferences(ctx, "payments.transactions-payload", paymentUsingStatus,
		[]Reference{{Name: "payments.v1.Status", Subject: "payments.status", Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := reg.Schema(ctx, id)
	if err != nil {
		t.Fatalf("schema with a reference: %v", err)
	}
	if s.Name() != "payments.v1.Payment" {
		t.Fatalf("Name = %q", s.Name())
	}
	body, err := s.Codec.BinaryFromNative(nil, map[string]any{
		"amount": big.NewRat(1234, 100), "currency": "EUR", "user_id": "u", "merchant_id": "m",
		"status": "CAPTURED", "previous": map[string]any{"payments.v1.Status": "AUTHORIZED"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewDecoder(reg).Payload(ctx, append(AppendFrame(nil, id), body...))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if p.Fields["status"] != "CAPTURED" || p.Fields["currency"] != "EUR" {
		t.Fatalf("fields %v", p.Fields)
	}

	// A reference of a reference: Outer -> Payment -> Status, Status used
	// again by Outer after Payment defined it.
	if _, err := reg.RegisterWithReferences(ctx, "payment-with-ref", paymentUsingStatus,
		[]Reference{{Name: "payments.v1.Status", Subject: "payments.status", Version: 1}}); err != nil {
		t.Fatal(err)
	}
	outer := `{"type":"record","name":"Outer","namespace":"other","fields":[
	 {"name":"p","type":"payments.v1.Payment"},
	 {"name":"s","type":"payments.v1.Status"},
	 {"name":"more","type":{"type":"array","items":"payments.v1.Payment"}}]}`
	oid, err := reg.RegisterWithReferences(ctx, "outer", outer, []Reference{
		{Name: "payments.v1.Status", Subject: "payments.status", Version: 1},
		{Name: "payments.v1.Payment", Subject: "payment-with-ref", Version: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	os, err := reg.Schema(ctx, oid)
	if err != nil {
		t.Fatalf("nested references: %v", err)
	}
	if strings.Count(os.Text, `"symbols"`) != 1 || strings.Count(os.Text, `"fields"`) != 2 {
		t.Fatalf("each referenced type must be defined exactly once: %s", os.Text)
	}
}

// TestRegistryReferenceErrors: a reference the registry cannot serve makes
// the schema unusable (cached), a cycle is refused, a 5xx stays retryable.
func TestRegistryReferenceErrors(t *testing.T) {
	var refStatus atomic.Int64
	refStatus.Store(404)
	reg, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/schemas/ids/1":
			writeJSON(w, 200, map[string]any{"schema": paymentUsingStatus,
				"references": []map[string]any{{"name": "payments.v1.Status", "subject": "gone", "version": 3}}})
		case "/schemas/ids/2":
			writeJSON(w, 200, map[string]any{"schema": paymentUsingStatus,
				"references": []map[string]any{{"name": "payments.v1.Status", "subject": "loop", "version": 1}}})
		case "/subjects/loop/versions/1":
			writeJSON(w, 200, map[string]any{"schema": statusEnum,
				"references": []map[string]any{{"name": "x.Y", "subject": "loop", "version": 1}}})
		case "/subjects/gone/versions/3":
			writeJSON(w, int(refStatus.Load()), map[string]any{"error_code": 40402, "message": "Version not found"})
		default:
			t.Errorf("unexpected %s", r.URL.Path)
		}
	}, WithRetries(0, 0))
	ctx := context.Background()
	for range 2 {
		if _, err := reg.Schema(ctx, 1); !errors.Is(err, ErrInvalidSchema) || errors.Is(err, ErrUnknownSchema) {
			t.Fatalf("missing reference: %v", err)
		}
	}
	if hits.Load() != 2 {
		t.Fatalf("%d requests, want 2 (the unusable schema is cached)", hits.Load())
	}
	if _, err := reg.Schema(ctx, 2); !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("reference cycle: %v", err)
	}

	refStatus.Store(503)
	reg2, _ := NewRegistry(reg.base, WithRetries(0, 0))
	if _, err := reg2.Schema(ctx, 1); !errors.Is(err, ErrRegistryUnavailable) || errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("reference fetch failing with 503: %v", err)
	}
}

func TestRegistryRetries(t *testing.T) {
	var fail atomic.Int64
	fail.Store(2)
	reg, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Add(-1) >= 0 {
			writeJSON(w, 503, map[string]any{"error_code": 50003, "message": "forwarding"})
			return
		}
		writeJSON(w, 200, map[string]any{"schema": tinySchema})
	}, WithRetries(2, time.Millisecond))
	if _, err := reg.Schema(context.Background(), 4); err != nil {
		t.Fatalf("two 503s then 200 with 2 retries: %v", err)
	}
	if hits.Load() != 3 {
		t.Fatalf("%d requests, want 3", hits.Load())
	}

	// Not retried: an unknown id, a 401.
	for _, status := range []int{404, 401} {
		reg, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, status, map[string]any{"error_code": status * 100, "message": "no"})
		}, WithRetries(3, time.Millisecond))
		if _, err := reg.Schema(context.Background(), 4); err == nil || errors.Is(err, ErrRegistryUnavailable) {
			t.Fatalf("%d: %v", status, err)
		}
		if hits.Load() != 1 {
			t.Fatalf("%d: %d requests, want 1", status, hits.Load())
		}
	}

	// The context ends the waits between retries.
	reg3, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 500, nil)
	}, WithRetries(10, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := reg3.Schema(ctx, 4); !errors.Is(err, ErrRegistryUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("retry wait did not honour the context")
	}
}

func TestRegistryBearerAuth(t *testing.T) {
	handler := func(want string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			if got := r.Header.Get("Authorization"); got != "Bearer "+want {
				writeJSON(w, 401, map[string]any{"error_code": 40101, "message": "unauthorized"})
				return
			}
			writeJSON(w, 200, []string{})
		}
	}
	ctx := context.Background()
	reg, _ := countingServer(t, handler("t0ken"), WithBearerToken("t0ken"))
	if err := reg.Ping(ctx); err != nil {
		t.Fatalf("static bearer: %v", err)
	}
	// The bearer token replaces credentials in the URL.
	withUser, _ := NewRegistry(strings.Replace(reg.base, "http://", "http://u:p@", 1), WithBearerToken("t0ken"))
	if err := withUser.Ping(ctx); err != nil {
		t.Fatalf("bearer with userinfo: %v", err)
	}

	var calls atomic.Int64
	src := func(ctx context.Context) (string, error) {
		calls.Add(1)
		return "fresh", nil
	}
	reg2, _ := countingServer(t, handler("fresh"), WithTokenSource(src))
	for range 3 {
		if err := reg2.Ping(ctx); err != nil {
			t.Fatalf("token source: %v", err)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("token source asked %d times for 3 requests", calls.Load())
	}

	failing := func(ctx context.Context) (string, error) { return "", errors.New("token endpoint: 503") }
	reg3, hits := countingServer(t, handler("x"), WithTokenSource(failing), WithRetries(1, time.Millisecond))
	err := reg3.Ping(ctx)
	if !errors.Is(err, ErrRegistryUnavailable) || !strings.Contains(err.Error(), "token endpoint") {
		t.Fatalf("failing token source: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests sent without a token", hits.Load())
	}
}

// TestRegistryErrorsHideCredentials: whatever fails, no error carries the
// URL's password or a bearer token.
func TestRegistryErrorsHideCredentials(t *testing.T) {
	const pass, token = "pa55-w0rd", "bearer-s3cret"
	statuses := []int{200, 401, 404, 500}
	for _, status := range statuses {
		reg, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			if status == 200 {
				w.WriteHeader(200)
				w.Write([]byte("not json"))
				return
			}
			writeJSON(w, status, map[string]any{"error_code": status * 100, "message": "no"})
		})
		for _, opts := range [][]RegistryOption{nil, {WithBearerToken(token)}} {
			r, err := NewRegistry(strings.Replace(reg.base, "http://", "http://user:"+pass+"@", 1), append(opts, WithRetries(0, 0))...)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_, e1 := r.Schema(ctx, 1)
			e2 := r.Ping(ctx)
			_, e3 := r.Register(ctx, "s", tinySchema)
			for _, e := range []error{e1, e2, e3} {
				if e == nil {
					t.Fatalf("status %d: no error", status)
				}
				if msg := e.Error(); strings.Contains(msg, pass) || strings.Contains(msg, token) || strings.Contains(msg, "user:") {
					t.Fatalf("status %d: error shows credentials: %s", status, msg)
				}
			}
		}
	}
	// Connection refused and a bad URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, _ := NewRegistry("http://user:"+pass+"@"+addr, WithRetries(0, 0))
	if _, err := r.Schema(context.Background(), 1); err == nil || strings.Contains(err.Error(), pass) {
		t.Fatalf("refused: %v", err)
	}
	for _, u := range []string{"http://user:" + pass + "@h/?q=1", "ftp://user:" + pass + "@h", "http://user:" + pass + "@a b/", "http://user:" + pass + "@h:port/"} {
		if _, err := NewRegistry(u); err == nil || strings.Contains(err.Error(), pass) {
			t.Fatalf("NewRegistry(bad URL) = %v", err)
		}
	}
}

func TestRegistryResponseTooLarge(t *testing.T) {
	reg, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := []byte(strings.Repeat("x", 1<<20))
		for range 9 {
			w.Write(chunk)
		}
	}, WithRetries(0, 0))
	_, err := reg.Schema(context.Background(), 1)
	if err == nil || !strings.Contains(err.Error(), "larger than") || errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("err = %v", err)
	}
}
