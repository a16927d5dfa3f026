package main

import (
	"bytes"
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

	out.Reset()
	errb.Reset()
	code = realMain([]string{"compact", "--catalog", uri, "--warehouse", wh, "--orphan-older-than", "5m", "--table", "nodot"}, env, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "--table") || !strings.Contains(errb.String(), "orphan older-than") {
		t.Fatalf("bad usage: exit %d, stderr:\n%s", code, errb.String())
	}
}
