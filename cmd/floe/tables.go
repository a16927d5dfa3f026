package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	iceberggo "github.com/apache/iceberg-go"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/internal/assembly"
)

// tableConfig holds table creation and maintenance settings of floe run and
// floe backfill.
type tableConfig struct {
	AutoCreate bool
	// Properties are the --table-property k=v values, in order.
	Properties []string
	// Expiry and orphan settings of the background compactor; zero takes
	// the table's history.expire.* properties, else the defaults.
	ExpireKeepLast  int64
	ExpireOlderThan time.Duration
	OrphanOlderThan time.Duration
	OrphansEvery    time.Duration
}

func defaultTableConfig() tableConfig { return tableConfig{AutoCreate: true} }

func (t *tableConfig) options() []option {
	return []option{
		boolOpt("auto-create", "create the table (and its namespace) when it is missing; false refuses to start without it", &t.AutoCreate),
		{name: "table-property", usage: "Iceberg table property key=value set when floe creates the table (repeatable)",
			set: func(s string) error {
				if k, _, ok := strings.Cut(s, "="); !ok || strings.TrimSpace(k) == "" {
					return fmt.Errorf("want key=value, got %q", s)
				}
				t.Properties = append(t.Properties, s)
				return nil
			},
			get: func() string { return strings.Join(t.Properties, " ") }},
		intOpt("expire-keep-last", fmt.Sprintf("snapshots the compactor always keeps (0: the table's history.expire.min-snapshots-to-keep, else %d)", compaction.DefaultExpireKeepLast), &t.ExpireKeepLast),
		durationOpt("expire-older-than", fmt.Sprintf("older snapshots beyond --expire-keep-last are expired (0: the table's history.expire.max-snapshot-age-ms, else %s)", compaction.DefaultExpireOlderThan), &t.ExpireOlderThan),
		durationOpt("orphan-older-than", fmt.Sprintf("unreferenced files younger than this are never deleted (0: %s; at least %s)", compaction.DefaultOrphanOlderThan, compaction.MinOrphanOlderThan), &t.OrphanOlderThan),
		durationOpt("orphans-every", fmt.Sprintf("the compactor looks for orphan files in its first run and then at most this often (0: %s); each look lists the table location and reads every manifest", compaction.DefaultOrphansEvery), &t.OrphansEvery),
	}
}

func (t *tableConfig) validate() error {
	var errs []error
	if t.ExpireKeepLast < 0 {
		errs = append(errs, fmt.Errorf("--expire-keep-last: must not be negative, got %d", t.ExpireKeepLast))
	}
	if t.ExpireOlderThan < 0 {
		errs = append(errs, fmt.Errorf("--expire-older-than: must not be negative, got %s", t.ExpireOlderThan))
	}
	if t.OrphanOlderThan != 0 && t.OrphanOlderThan < compaction.MinOrphanOlderThan {
		errs = append(errs, fmt.Errorf("--orphan-older-than: must be at least %s so commits in flight keep their files, got %s", compaction.MinOrphanOlderThan, t.OrphanOlderThan))
	}
	if t.OrphansEvery < 0 {
		errs = append(errs, fmt.Errorf("--orphans-every: must not be negative, got %s", t.OrphansEvery))
	}
	return errors.Join(errs...)
}

// CreateProperties are the properties of a table floe creates: floe's
// defaults (assembly.DefaultTableProperties; catalog.EnsureTable adds
// catalog.DefaultTableProperties), then the --table-property values (the
// last value of a key wins).
func (t *tableConfig) CreateProperties() iceberggo.Properties {
	p := assembly.DefaultTableProperties()
	for _, kv := range t.Properties {
		k, v, _ := strings.Cut(kv, "=")
		p[strings.TrimSpace(k)] = v
	}
	return p
}

// compactionOptions are the background compactor's options.
func (t *tableConfig) compactionOptions(targetFileSize int64) compaction.Options {
	return compaction.Options{
		TargetFileSize: targetFileSize, ExpireKeepLast: int(t.ExpireKeepLast),
		ExpireOlderThan: t.ExpireOlderThan, OrphanOlderThan: t.OrphanOlderThan,
		OrphansEvery: t.OrphansEvery,
	}
}

// MayCreate says whether a missing table may be created.
func (t *tableConfig) MayCreate() bool { return t.AutoCreate }
