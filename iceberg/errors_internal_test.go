package iceberg

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/apache/iceberg-go/table"
)

func TestClassifyCommitErr(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want commitErrKind
	}{
		{fmt.Errorf("%w: metadata-location moved", table.ErrCommitFailed), commitConflict},
		{errors.New(`requirement failed: branch "main" has changed: expected id 1, found 2`), commitConflict},
		{errors.New(`Requirement failed: current schema id has changed: expected 0, found 1`), commitConflict},
		{fmt.Errorf("x: %w", table.ErrCommitDiverged), commitConflict},
		{context.DeadlineExceeded, commitUnknown},
		{fmt.Errorf("requirement failed while %w", context.Canceled), commitUnknown},
		{errors.New("504 gateway timeout"), commitUnknown},
		{errors.New("write metadata: i/o error"), commitUnknown},
	} {
		if got := classifyCommitErr(tc.err); got != tc.want {
			t.Errorf("%v: got %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestFence(t *testing.T) {
	tp0 := TopicPartition{Topic: "t", Partition: 0}
	tp1 := TopicPartition{Topic: "t", Partition: 1}
	b := &Batch{From: Offsets{tp0: 10, tp1: 0}, To: Offsets{tp0: 20, tp1: 5}}
	if bad := fence(Offsets{}, b); bad != nil {
		t.Errorf("fresh table fenced: %v", bad)
	}
	if bad := fence(Offsets{tp0: 10}, b); bad != nil {
		t.Errorf("matching start fenced: %v", bad)
	}
	if bad := fence(Offsets{tp0: 20}, b); len(bad) != 1 {
		t.Errorf("moved partition not fenced: %v", bad)
	}
	if bad := fence(Offsets{tp1: 3}, &Batch{To: Offsets{tp1: 5}}); len(bad) != 1 {
		t.Errorf("missing From with recorded offset not fenced: %v", bad)
	}
}
