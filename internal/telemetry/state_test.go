package telemetry

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/floe-io/floe/ingest"
)

// TestStateChanges walks floe_state through every state and checks the
// log line and counters of each change.
func TestStateChanges(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMetrics(func() time.Time { return now })
	var buf bytes.Buffer
	m.LogStateChanges(slog.New(slog.NewTextHandler(&buf, nil)))
	state := func(want string) {
		t.Helper()
		if got := m.State(); got != want {
			t.Fatalf("state %q, want %q", got, want)
		}
		for _, s := range allStates {
			v := testutil.ToFloat64(m.st.state.WithLabelValues(s))
			if (s == want) != (v == 1) {
				t.Fatalf("floe_state{state=%q} = %v with the state %q", s, v, want)
			}
		}
	}
	changes := func(change string) float64 { return testutil.ToFloat64(m.st.changes.WithLabelValues(change)) }
	tps := []ingest.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}}

	state(StateWaiting)
	m.SourceEvent(ingest.SourceEvent{Kind: ingest.SourceAssigned, Partitions: 2})
	m.Assigned(tps)
	state(StateRunning)
	if changes("assigned") != 1 {
		t.Errorf("assigned changes = %v", changes("assigned"))
	}

	regErr := errors.New("schema registry unavailable: connection refused")
	m.OutageBegan("registry", regErr)
	m.OutageBegan("registry", regErr) // a second record meeting the same outage
	state(StateOutage)
	if got := testutil.ToFloat64(m.st.outage.WithLabelValues("registry")); got != 1 {
		t.Errorf("floe_outage{component=registry} = %v during the outage", got)
	}
	now = now.Add(7 * time.Second)
	m.OutageEnded("registry", 2*time.Second)
	state(StateRunning)
	if changes("outage_began") != 1 || changes("outage_ended") != 1 {
		t.Errorf("outage changes: began %v ended %v, want 1 and 1", changes("outage_began"), changes("outage_ended"))
	}
	if got := testutil.ToFloat64(m.st.outageTime.WithLabelValues("registry")); got != 7 {
		t.Errorf("floe_outage_seconds_total = %v, want 7 (since it began)", got)
	}

	m.SourceEvent(ingest.SourceEvent{Kind: ingest.SourceLost, Partitions: 2})
	m.Assigned(nil)
	state(StateWaiting)
	m.SourceEvent(ingest.SourceEvent{Kind: ingest.SourceFenced, Err: errors.New("fenced by other consumer")})
	state(StateFenced)
	if changes("lost") != 1 || changes("fenced") != 1 || changes("revoked") != 0 {
		t.Errorf("changes: lost %v fenced %v revoked %v", changes("lost"), changes("fenced"), changes("revoked"))
	}

	log := buf.String()
	for _, want := range []string{
		`level=WARN msg="outage began: retrying until it answers" component=registry err="schema registry unavailable: connection refused"`,
		`level=INFO msg="outage ended" component=registry lasted=7s`,
		`level=WARN msg="partitions lost`,
		`level=ERROR msg="fenced: another process joined the group with this process's instance id"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "outage began"); n != 1 {
		t.Errorf("%d outage-began lines for one outage", n)
	}
}
