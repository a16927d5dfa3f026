package main

import (
	"bytes"
	"io"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestRunHelpGrouped: `floe run -h` lists every option once, under its
// group, groups in the documented order, and documents FLOE_CONFIG.
func TestRunHelpGrouped(t *testing.T) {
	var stderr bytes.Buffer
	if code := realMain([]string{"run", "-h"}, envFrom(nil), io.Discard, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := stderr.String()
	cfg := defaultConfig()
	for _, o := range cfg.runOptions() {
		if n := strings.Count(help, "\n  --"+o.name+" ") + strings.Count(help, "\n  --"+o.name+"\n"); n != 1 {
			t.Errorf("--%s listed %d times", o.name, n)
		}
		if groupOf(o.name) == "Other" {
			t.Errorf("--%s has no group", o.name)
		}
	}
	last := -1
	for _, g := range []string{"Kafka:", "Schema Registry:", "Keys:", "Table and catalog:", "Object storage (S3):",
		"Commits and limits:", "Errors and dead letters:", "Compaction and maintenance:", "Observability:", "Config file:"} {
		i := strings.Index(help, "\n"+g+"\n")
		if i < 0 || i < last {
			t.Errorf("group %q missing or out of order", g)
		}
		last = i
	}
	// An option sits in its group: --s3-endpoint after "Object storage".
	if strings.Index(help, "--s3-endpoint") < strings.Index(help, "Object storage (S3):") {
		t.Error("--s3-endpoint is not under Object storage")
	}
	for _, want := range []string{"FLOE_CONFIG", "FLOE_<NAME>", "--s3-virtual-hosted\n", "--catalog-sigv4\n", `(default "1s"; env FLOE_TRIGGER)`} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestBooleanOptions(t *testing.T) {
	cfg := defaultConfig()
	if _, err := load("floe run", cfg.runOptions(), []string{"--s3-virtual-hosted", "--catalog-sigv4=true"}, envFrom(nil), io.Discard); err != nil {
		t.Fatal(err)
	}
	if !cfg.Storage.S3VirtualHosted || !cfg.Storage.CatalogSigV4 {
		t.Fatalf("booleans not set: %+v", cfg.Storage)
	}
	p, err := cfg.Storage.props(envFrom(nil))
	if err != nil || p["rest.sigv4-enabled"] != "true" || p["s3.force-virtual-addressing"] != "true" {
		t.Fatalf("props %v %v", p, err)
	}
	cfg = defaultConfig()
	if _, err := load("floe run", cfg.runOptions(), []string{"--s3-virtual-hosted=maybe"}, envFrom(nil), io.Discard); err == nil {
		t.Fatal("--s3-virtual-hosted=maybe accepted")
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var stdout bytes.Buffer
		if code := realMain([]string{arg}, envFrom(nil), &stdout, io.Discard); code != 0 {
			t.Fatalf("%s: exit %d", arg, code)
		}
		out := stdout.String()
		for _, re := range []string{`(?m)^floe \S+`, `(?m)^commit \S+`, `(?m)^` + regexp.QuoteMeta(runtime.Version()) + ` `, `(?m)^librdkafka \d+\.\d+\.\d+`} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("%s: output lacks %s:\n%s", arg, re, out)
			}
		}
	}
}
