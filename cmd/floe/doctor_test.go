package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/floe-io/floe/internal/tabletest"
)

// TestDoctorCommand runs floe doctor on a sound table and with bad usage;
// the finding and repair of misplaced files is tested in iceberg
// (TestCheckLocationsRepairsOldLayout).
func TestDoctorCommand(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	uri, wh := e.URI, e.Warehouse
	env := func(string) string { return "" }
	var out, errb bytes.Buffer
	code := realMain([]string{"doctor", "--catalog", uri, "--warehouse", wh}, env, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "1 referenced files checked") || !strings.Contains(out.String(), "misplaced: 0; missing: 0") {
		t.Fatalf("doctor: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := realMain([]string{"doctor", "--catalog", uri, "--warehouse", wh, "--table", "nodot"}, env, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--table") {
		t.Fatalf("bad usage: exit %d, stderr:\n%s", code, errb.String())
	}
}
