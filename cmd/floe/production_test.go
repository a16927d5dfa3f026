package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/testserver"
)

// lockedBuffer is an io.Writer safe for the concurrent writes of a running
// command.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProduceThenRunOnPostgresAndS3 is the production path end to end:
// `floe produce` into a broker and registry over TCP/HTTP (creating the
// keyring), then `floe run` with a PostgreSQL catalog and an S3 warehouse
// configured through flags and a secret from the environment.
func TestProduceThenRunOnPostgresAndS3(t *testing.T) {
	pg := testserver.StartPostgres(t)
	s3 := testserver.StartS3(t)
	s3.CreateBucket(t, "lake")
	ctx := t.Context()
	st, err := devstack.Start(ctx, devstack.Options{Partitions: 3, Topic: "payments.transactions"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	dir := t.TempDir()
	keyring := filepath.Join(dir, "keyring.json")
	var out bytes.Buffer
	err = cmdProduce(ctx, []string{
		"--brokers", st.BrokersString(), "--registry-url", st.RegistryURL,
		"--events", "200", "--rate", "0", "--invalid-share", "0.25", "--keyring", keyring,
	}, envFrom(nil), &out, io.Discard)
	if err != nil {
		t.Fatalf("produce: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "created keyring "+keyring) || !strings.Contains(out.String(), "produced 200 events") {
		t.Fatalf("produce output:\n%s", out.String())
	}
	if fi, err := os.Stat(keyring); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v %v", fi, err)
	}

	catURI := pg.NewDatabase(t)
	const secret = "s3-secret-never-logged"
	env := envFrom(map[string]string{envS3SecretAccessKey: secret})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var stderr lockedBuffer
	done := make(chan error, 1)
	profile := filepath.Join(dir, "run.pprof")
	go func() {
		done <- cmdRun(runCtx, []string{"--cpuprofile", profile,
			"--brokers", st.BrokersString(), "--registry-url", st.RegistryURL, "--keyring", keyring,
			"--catalog", catURI, "--warehouse", "s3://lake/warehouse",
			"--s3-endpoint", s3.Endpoint, "--s3-region", "us-east-1", "--s3-access-key-id", s3.AccessKeyID,
			"--trigger", "200ms", "--log-format", "json",
		}, env, io.Discard, &stderr)
	}()

	props := s3.Props()
	props[catalog.PropS3SecretAccessKey] = s3.SecretAccessKey
	deadline := time.Now().Add(60 * time.Second)
	rows := ""
	for time.Now().Before(deadline) && rows != "150" {
		select {
		case err := <-done:
			t.Fatalf("floe run stopped early: %v\n%s", err, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		rows = tableRows(t, catURI, props)
	}
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("floe run: %v\n%s", err, stderr.String())
	}
	if rows != "150" {
		t.Fatalf("table holds %s rows, want the 150 valid events\n%s", rows, stderr.String())
	}
	if strings.Contains(stderr.String(), secret) {
		t.Fatal("the S3 secret key appears in floe run's output")
	}
	if !strings.Contains(stderr.String(), `"s3-access-key-id":"[redacted]"`) {
		t.Errorf("the logged configuration does not redact the access key id:\n%s", stderr.String())
	}
	var parquet int
	for _, k := range s3.Objects(t, "lake", "warehouse/") {
		if strings.HasSuffix(k, ".parquet") {
			parquet++
		}
	}
	if parquet == 0 {
		t.Fatal("no Parquet data files in the bucket")
	}
	// --cpuprofile: a pprof profile (gzipped protocol buffer) written on stop.
	if b, err := os.ReadFile(profile); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("--cpuprofile %s: %d bytes, %v; want a gzipped pprof profile", profile, len(b), err)
	}
}

// tableRows returns the total-records of the table's current snapshot, ""
// while there is no table or snapshot yet.
func tableRows(t *testing.T, uri string, props map[string]string) string {
	t.Helper()
	cat, err := catalog.Open(t.Context(), uri, "s3://lake/warehouse", props)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.(io.Closer).Close()
	tbl, err := cat.LoadTable(t.Context(), []string{"payments", "transactions"})
	if err != nil || tbl.CurrentSnapshot() == nil {
		return ""
	}
	return tbl.CurrentSnapshot().Summary.Properties["total-records"]
}

func TestStorageSecretsOnlyFromFileOrEnv(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := storageConfig{S3AccessKeyID: "AK", S3SecretAccessKeyFile: secretFile}
	p, err := s.props(envFrom(nil))
	if err != nil || p[catalog.PropS3SecretAccessKey] != "from-file" {
		t.Fatalf("props %v, err %v", p, err)
	}
	// Both a file and the environment: ambiguous.
	if _, err := s.props(envFrom(map[string]string{envS3SecretAccessKey: "x"})); err == nil {
		t.Fatal("secret from both file and environment accepted")
	}
	// A key id without a secret, and a secret without a key id.
	if _, err := (&storageConfig{S3AccessKeyID: "AK"}).props(envFrom(nil)); err == nil {
		t.Fatal("access key id without a secret accepted")
	}
	if _, err := (&storageConfig{}).props(envFrom(map[string]string{envS3SecretAccessKey: "x"})); err == nil {
		t.Fatal("secret without an access key id accepted")
	}
	// There is no flag for a secret value.
	cfg := defaultConfig()
	for _, o := range cfg.runOptions() {
		if strings.Contains(o.name, "secret") && !strings.HasSuffix(o.name, "-file") {
			t.Errorf("option --%s takes a secret on the command line", o.name)
		}
	}
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("tkn"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = (&storageConfig{CatalogTokenFile: tok, CatalogPrefix: "p", CatalogSigV4: true}).props(envFrom(map[string]string{envCatalogCredential: "id:sec"}))
	if err != nil || p["token"] != "tkn" || p["credential"] != "id:sec" || p["prefix"] != "p" || p["rest.sigv4-enabled"] != "true" {
		t.Fatalf("REST props %v, err %v", p, err)
	}
}
