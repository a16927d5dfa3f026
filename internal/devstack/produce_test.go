package devstack_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/floe-io/floe/internal/devstack"
)

func TestProduceStreamRateAndNoKeys(t *testing.T) {
	s := startStack(t, devstack.Options{Topic: "rate", Partitions: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := devstack.NewGenerator(devstack.GenOptions{Keys: devstack.GenerateKeyring()})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := devstack.ProduceStream(ctx, s.Brokers, s.Topic, g.Take(60), 200, devstack.WithoutKeys())
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("60 events at 200/s took %v", el)
	}
	if n != 60 {
		t.Errorf("%d acknowledged, want 60", n)
	}
	recs, err := devstack.ReadAll(ctx, s.Brokers, s.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 60 {
		t.Fatalf("%d records, want 60", len(recs))
	}
	for _, r := range recs {
		if r.Key != nil {
			t.Fatalf("record has key %q", r.Key)
		}
	}
	// A topic that does not exist is an error callers can tell apart.
	if _, err = devstack.ReadAll(ctx, s.Brokers, "never-written"); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("missing topic: %v", err)
	}
	// An empty one reads as nothing.
	if err := s.Cluster().CreateTopic("empty", 3, nil); err != nil {
		t.Fatal(err)
	}
	recs, err = devstack.ReadAll(ctx, s.Brokers, "empty")
	if err != nil || len(recs) != 0 {
		t.Errorf("empty topic: %d records, %v", len(recs), err)
	}
}

func TestProduceCanceled(t *testing.T) {
	s := startStack(t, devstack.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g, err := devstack.NewGenerator(devstack.GenOptions{Keys: devstack.GenerateKeyring()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devstack.ProduceStream(ctx, s.Brokers, s.Topic, g.Take(-1), 0); err == nil {
		t.Error("canceled context: no error")
	}
	if err := devstack.Produce(context.Background(), nil, s.Topic, nil); err == nil {
		t.Error("no brokers: no error")
	}
}

func TestWriteKeyringFile(t *testing.T) {
	keys := devstack.GenerateKeyring("k1", "k2")
	if len(keys) != 2 || len(keys["k1"]) != 32 || string(keys["k1"]) == string(keys["k2"]) {
		t.Fatalf("keyring %v", keys)
	}
	path := filepath.Join(t.TempDir(), "keyring.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := devstack.WriteKeyringFile(path, keys); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Keys map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for id, k := range keys {
		if f.Keys[id] != base64.StdEncoding.EncodeToString(k) {
			t.Errorf("key %s: %q", id, f.Keys[id])
		}
	}
	if err := devstack.WriteKeyringFile(path, map[string][]byte{"k1": {1}}); err == nil {
		t.Error("short key: no error")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory, want 1", len(entries))
	}
}
