package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floe-io/floe/internal/tabletest"
)

func TestCompactCommand(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	uri, wh := e.URI, e.Warehouse
	env := func(string) string { return "" }

	var out, errb bytes.Buffer
	code := realMain([]string{"compact", "--catalog", uri, "--warehouse", wh, "--dry-run"}, env, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "would do (dry run)") || !strings.Contains(out.String(), "rewrite plan:") {
		t.Fatalf("dry run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}

	// --cpuprofile: a gzipped pprof profile of the pass, written when it ends.
	out.Reset()
	errb.Reset()
	profile := filepath.Join(t.TempDir(), "compact.pprof")
	code = realMain([]string{"compact", "--catalog", uri, "--warehouse", wh, "--cpuprofile", profile}, env, &out, &errb)
	if b, err := os.ReadFile(profile); code != 0 || err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("--cpuprofile: exit %d, profile %d bytes, %v\nstderr:\n%s", code, len(b), err, errb.String())
	}

	out.Reset()
	errb.Reset()
	code = realMain([]string{"compact", "--catalog", uri, "--warehouse", wh, "--orphan-older-than", "5m", "--table", "nodot"}, env, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "--table") || !strings.Contains(errb.String(), "orphan older-than") {
		t.Fatalf("bad usage: exit %d, stderr:\n%s", code, errb.String())
	}
}
