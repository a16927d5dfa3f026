package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-io/floe/catalog"
)

func TestTableFlags(t *testing.T) {
	cfg := defaultConfig()
	env := func(k string) string {
		if k == "FLOE_TABLE_PROPERTY" {
			return "from.env=1"
		}
		return ""
	}
	_, err := load("floe run", cfg.runOptions(), []string{
		"--table-property", "write.target-file-size-bytes=1048576",
		"--table-property", "comment=a=b,c",
		"--table-property", "write.metadata.previous-versions-max=5",
		"--auto-create=false", "--expire-keep-last", "7", "--expire-older-than", "10m", "--orphan-older-than", "2h",
		"--orphans-every", "3h",
	}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.Tables
	if tc.AutoCreate || tc.ExpireKeepLast != 7 || tc.ExpireOlderThan != 10*time.Minute || tc.OrphanOlderThan != 2*time.Hour || tc.OrphansEvery != 3*time.Hour {
		t.Fatalf("parsed %+v", tc)
	}
	p := tc.CreateProperties()
	for k, want := range map[string]string{
		"from.env": "1", "write.target-file-size-bytes": "1048576", "comment": "a=b,c",
		"write.metadata.previous-versions-max": "5",
		"write.parquet.compression-codec":      "zstd", // floe's tuned defaults stay
	} {
		if p[k] != want {
			t.Errorf("property %s = %q, want %q", k, p[k], want)
		}
	}
	o := tc.compactionOptions(64 << 20)
	if o.ExpireKeepLast != 7 || o.ExpireOlderThan != 10*time.Minute || o.OrphanOlderThan != 2*time.Hour || o.OrphansEvery != 3*time.Hour || o.TargetFileSize != 64<<20 {
		t.Fatalf("compaction options %+v", o)
	}
	if !defaultConfig().Tables.AutoCreate {
		t.Fatal("--auto-create must default to true")
	}

	for _, args := range [][]string{
		{"--table-property", "novalue"},
		{"--table-property", "=v"},
		{"--orphan-older-than", "5m"},
		{"--expire-keep-last", "-1"},
		{"--orphans-every", "-1s"},
	} {
		c := defaultConfig()
		_, err := load("floe run", c.runOptions(), args, func(string) string { return "" }, io.Discard)
		err = errors.Join(err, c.Tables.validate())
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestAutoCreateOff: with --auto-create=false floe refuses to start on a
// catalog without the table, and creates nothing; with it on (the default)
// the table is created with floe's housekeeping properties and the
// --table-property values.
func TestAutoCreateOff(t *testing.T) {
	reg := srfake.NewRegistry()
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	dir := t.TempDir()
	uri, wh := "sqlite://"+filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "wh")
	ctx := context.Background()
	w := wiring{
		Brokers: "127.0.0.1:1", RegistryURL: srv.URL, Topic: "t", Group: "g", DLQTopic: "t.dlq",
		Catalog: uri, Warehouse: wh, Table: "payments.transactions",
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tables: &tableConfig{AutoCreate: false},
	}
	_, err := assemble(ctx, w)
	if !errors.Is(err, catalog.ErrNoTable) || !strings.Contains(err.Error(), "--auto-create") {
		t.Fatalf("auto-create off: %v", err)
	}
	cat, err := catalog.Open(ctx, uri, wh, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.(io.Closer).Close()
	ident, _ := catalog.ParseIdentifier("payments.transactions")
	if _, err := cat.LoadTable(ctx, ident); err == nil {
		t.Fatal("the table was created with --auto-create=false")
	}

	w.Tables = &tableConfig{AutoCreate: true, Properties: []string{"owner=payments-team"}}
	a, err := assemble(ctx, w)
	if a != nil {
		_ = a.Close(ctx)
		a.closeCatalog()
	}
	// The Kafka source may fail to start without a broker; the table is
	// created before it.
	_ = err
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		t.Fatalf("table not created with --auto-create: %v", err)
	}
	props := tbl.Properties()
	for k, want := range map[string]string{
		"owner": "payments-team", "write.metadata.delete-after-commit.enabled": "true",
		"write.metadata.previous-versions-max": "20",
	} {
		if props[k] != want {
			t.Errorf("created table: %s = %q, want %q", k, props[k], want)
		}
	}
}
