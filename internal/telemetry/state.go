package telemetry

import (
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/floe-io/floe/ingest"
)

// States of floe_state: exactly one has the value 1.
const (
	// StateWaiting: no partitions assigned (starting, rebalancing, or
	// more members than partitions).
	StateWaiting = "waiting_for_partitions"
	// StateRunning: partitions assigned and nothing known to be down. An
	// idle topic and a healthy backlog both look like this; lag and
	// floe_seconds_since_last_commit tell them apart.
	StateRunning = "running"
	// StateOutage: something floe depends on is down (floe_outage says
	// what); records are retried, not dead-lettered.
	StateOutage = "outage"
	// StateFenced: another process took this one's instance id; it stops.
	StateFenced = "fenced"
)

var allStates = []string{StateWaiting, StateRunning, StateOutage, StateFenced}

// Changes counted by floe_state_changes_total.
var allChanges = []string{ingest.SourceAssigned, ingest.SourceRevoked, ingest.SourceLost, ingest.SourceFenced, "outage_began", "outage_ended"}

// stateMetrics are the state-change series (see state.go).
type stateMetrics struct {
	log          *slog.Logger
	state        *prometheus.GaugeVec
	changes      *prometheus.CounterVec
	outage       *prometheus.GaugeVec
	outageTime   *prometheus.CounterVec
	outages      map[string]time.Time // what -> since; guarded by Metrics.mu
	fenced       bool
	currentState string
}

func (m *Metrics) registerState() {
	s := &m.st
	s.outages = map[string]time.Time{}
	s.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "floe_state",
		Help: "1 for the state floe is in: waiting_for_partitions, running, outage or fenced; 0 for the others."}, []string{"state"})
	s.changes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "floe_state_changes_total",
		Help: "State changes: partitions assigned, revoked or lost; outage began or ended; fenced."}, []string{"change"})
	s.outage = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "floe_outage",
		Help: "1 while a dependency (registry, catalog, storage) is down and floe retries."}, []string{"component"})
	s.outageTime = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "floe_outage_seconds_total",
		Help: "Time dependencies were down, counted when each outage ends."}, []string{"component"})
	m.reg.MustRegister(s.state, s.changes, s.outage, s.outageTime)
	for _, c := range allChanges {
		s.changes.WithLabelValues(c)
	}
	for _, what := range []string{ingest.OutageRegistry, ingest.OutageCatalog, ingest.OutageStorage} {
		s.outage.WithLabelValues(what)
		s.outageTime.WithLabelValues(what)
	}
	m.mu.Lock()
	m.refreshState()
	m.mu.Unlock()
}

// LogStateChanges makes the metrics log one line per state change that
// the pipeline does not log itself (lost partitions, outages, fencing).
// Call it before the pipeline runs.
func (m *Metrics) LogStateChanges(log *slog.Logger) { m.st.log = log }

// State returns the current value of floe_state.
func (m *Metrics) State() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.currentState
}

// refreshState recomputes floe_state; m.mu is held.
func (m *Metrics) refreshState() {
	s := &m.st
	cur := StateWaiting
	switch {
	case s.fenced:
		cur = StateFenced
	case len(s.outages) > 0:
		cur = StateOutage
	case m.nAssigned.Load() > 0:
		cur = StateRunning
	}
	s.currentState = cur
	for _, st := range allStates {
		v := 0.0
		if st == cur {
			v = 1
		}
		s.state.WithLabelValues(st).Set(v)
	}
}

// SourceEvent counts a change of the group membership (give it to
// ingest.KafkaSourceConfig.OnEvent) and logs the ones the pipeline does
// not: a lost assignment and fencing.
func (m *Metrics) SourceEvent(ev ingest.SourceEvent) {
	m.st.changes.WithLabelValues(ev.Kind).Inc()
	switch ev.Kind {
	case ingest.SourceLost:
		m.logWarn("partitions lost: the group gave them away without a rebalance (session timed out?); what this process held is committed only if the table's offsets still allow it",
			"partitions", ev.Partitions)
	case ingest.SourceFenced:
		m.logError("fenced: another process joined the group with this process's instance id", "err", errString(ev.Err))
		m.mu.Lock()
		m.st.fenced = true
		m.refreshState()
		m.mu.Unlock()
	}
}

// OutageBegan implements ingest.OutageObserver.
func (m *Metrics) OutageBegan(what string, err error) {
	m.mu.Lock()
	_, already := m.st.outages[what]
	if !already {
		m.st.outages[what] = m.now()
		m.refreshState()
	}
	m.mu.Unlock()
	if already {
		return
	}
	m.st.changes.WithLabelValues("outage_began").Inc()
	m.st.outage.WithLabelValues(what).Set(1)
	m.logWarn("outage began: retrying until it answers", "component", what, "err", errString(err))
}

// OutageEnded implements ingest.OutageObserver.
func (m *Metrics) OutageEnded(what string, lasted time.Duration) {
	m.mu.Lock()
	since, ok := m.st.outages[what]
	delete(m.st.outages, what)
	m.refreshState()
	m.mu.Unlock()
	if !ok {
		return
	}
	if d := m.now().Sub(since); d > lasted {
		lasted = d
	}
	m.st.changes.WithLabelValues("outage_ended").Inc()
	m.st.outage.WithLabelValues(what).Set(0)
	m.st.outageTime.WithLabelValues(what).Add(lasted.Seconds())
	m.logInfo("outage ended", "component", what, "lasted", lasted.Round(time.Millisecond).String())
}

// OutageSince says since when what has been down, if it is.
func (m *Metrics) OutageSince(what string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	since, ok := m.st.outages[what]
	return since, ok
}

// Outages lists what is down now, sorted.
func (m *Metrics) Outages() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.st.outages))
	for w := range m.st.outages {
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}

func (m *Metrics) logInfo(msg string, args ...any) {
	if m.st.log != nil {
		m.st.log.Info(msg, args...)
	}
}

func (m *Metrics) logWarn(msg string, args ...any) {
	if m.st.log != nil {
		m.st.log.Warn(msg, args...)
	}
}

func (m *Metrics) logError(msg string, args ...any) {
	if m.st.log != nil {
		m.st.log.Error(msg, args...)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
