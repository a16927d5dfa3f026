package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/floe-io/floe/schema"
)

// TestRegistryOAuth: with --registry-oauth-*, floe gets a client-credentials
// token from the token endpoint (once, cached) and sends it to the registry.
func TestRegistryOAuth(t *testing.T) {
	var tokens atomic.Int64
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		id, sec, ok := r.BasicAuth()
		if r.Form.Get("grant_type") != "client_credentials" || !ok || id != "floe" || sec != "cl1ent-s3cret" {
			w.WriteHeader(401)
			return
		}
		if got := r.Form.Get("scope"); got != "registry.read other" {
			t.Errorf("scope %q", got)
		}
		tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600})
	}))
	defer idp.Close()
	var authed atomic.Int64
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			w.WriteHeader(401)
			return
		}
		authed.Add(1)
		w.Write([]byte("[]"))
	}))
	defer reg.Close()

	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("cl1ent-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tc := transportConfig{RegistryOAuthTokenURL: idp.URL + "/token", RegistryOAuthClientID: "floe",
		RegistryOAuthClientSecretFile: secretFile, RegistryOAuthScope: "registry.read other"}
	if err := tc.validate(); err != nil {
		t.Fatal(err)
	}
	opts, err := tc.registryOptions(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	r, err := schema.NewRegistry(reg.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := r.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if tokens.Load() != 1 || authed.Load() != 3 {
		t.Fatalf("%d tokens fetched, %d authenticated requests; want 1 and 3", tokens.Load(), authed.Load())
	}

	// A wrong secret: the ping fails, the secret is not in the error.
	bad := tc
	bad.RegistryOAuthClientSecretFile = ""
	opts, err = bad.registryOptions(func(k string) string {
		if k == "FLOE_REGISTRY_OAUTH_CLIENT_SECRET" {
			return "wr0ng-secret"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	r, _ = schema.NewRegistry(reg.URL, append(opts, schema.WithRetries(0, 0))...)
	if err := r.Ping(context.Background()); err == nil || strings.Contains(err.Error(), "wr0ng-secret") {
		t.Fatalf("wrong client secret: %v", err)
	}
}

func TestRegistryBearerTokenFlag(t *testing.T) {
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer st4tic" {
			w.WriteHeader(401)
			return
		}
		w.Write([]byte("[]"))
	}))
	defer reg.Close()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("st4tic\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cfg transportConfig
		env string
	}{
		"file": {cfg: transportConfig{RegistryBearerTokenFile: file}},
		"env":  {env: "st4tic"},
	} {
		opts, err := tc.cfg.registryOptions(func(k string) string {
			if k == "FLOE_REGISTRY_BEARER_TOKEN" {
				return tc.env
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := schema.NewRegistry(reg.URL, opts...)
		if err := r.Ping(context.Background()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestRegistryAuthFlagsValidate(t *testing.T) {
	for name, tc := range map[string]transportConfig{
		"two ways":       {RegistryUsername: "u", RegistryOAuthTokenURL: "https://idp/token", RegistryOAuthClientID: "c"},
		"no client id":   {RegistryOAuthTokenURL: "https://idp/token"},
		"no token url":   {RegistryOAuthClientID: "c"},
		"bad token url":  {RegistryOAuthTokenURL: "idp/token", RegistryOAuthClientID: "c"},
		"user and token": {RegistryUsername: "u", RegistryBearerTokenFile: "/dev/null"},
	} {
		if err := tc.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
