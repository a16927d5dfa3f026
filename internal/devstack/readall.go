package devstack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// readIdle is how long one poll of ReadAll waits for records, and
// idlePolls how many polls in a row may return none before it stops short
// of a partition's end offset (transaction markers at the end of a
// partition are offsets no record ever has). One idle poll is not enough:
// on a loaded machine the first fetch alone can take longer than readIdle,
// and stopping then returned a topic's records only in part.
const (
	readIdle  = time.Second
	idlePolls = 5
)

// ReadAll reads topic from its start to its end offsets as they are when
// called, committed records only, and returns the records ordered by
// partition and offset. It is meant for tests (dead-letter checks) on small
// topics. A topic that does not exist is an error matching
// kerr.UnknownTopicOrPartition (errors.Is).
func ReadAll(ctx context.Context, brokers []string, topic string) ([]*kgo.Record, error) {
	if len(brokers) == 0 {
		return nil, errors.New("devstack: read: no brokers")
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return nil, fmt.Errorf("devstack: read %s: %w", topic, err)
	}
	defer cl.Close()

	parts, err := partitions(ctx, cl, topic)
	if err != nil {
		return nil, fmt.Errorf("devstack: read %s: %w", topic, err)
	}
	starts, err := listOffsets(ctx, cl, topic, parts, -2)
	if err != nil {
		return nil, fmt.Errorf("devstack: read %s: start offsets: %w", topic, err)
	}
	ends, err := listOffsets(ctx, cl, topic, parts, -1)
	if err != nil {
		return nil, fmt.Errorf("devstack: read %s: end offsets: %w", topic, err)
	}

	pending := make(map[int32]int64) // partition -> end offset not yet reached
	assign := make(map[int32]kgo.Offset)
	for _, p := range parts {
		if ends[p] > starts[p] {
			pending[p] = ends[p]
			assign[p] = kgo.NewOffset().At(starts[p])
		}
	}
	if len(pending) == 0 {
		return nil, nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign})

	var out []*kgo.Record
	idle := 0
	for len(pending) > 0 {
		pctx, cancel := context.WithTimeout(ctx, readIdle)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("devstack: read %s: %w", topic, err)
		}
		var fetchErr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fetchErr = errors.Join(fetchErr, err)
			}
		})
		if fetchErr != nil {
			return nil, fmt.Errorf("devstack: read %s: %w", topic, fetchErr)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := pending[r.Partition]
			if !ok || r.Offset >= end {
				return // past the end offsets taken at the start
			}
			n++
			out = append(out, r)
			if r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
		})
		if n > 0 {
			idle = 0
		} else if idle++; idle >= idlePolls {
			break // idle: what is left are markers or aborted records
		}
	}
	slices.SortFunc(out, func(a, b *kgo.Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return out, nil
}

func partitions(ctx context.Context, cl *kgo.Client, topic string) ([]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 {
		return nil, fmt.Errorf("metadata has %d topics", len(resp.Topics))
	}
	t := resp.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		return nil, err
	}
	parts := make([]int32, 0, len(t.Partitions))
	for _, p := range t.Partitions {
		parts = append(parts, p.Partition)
	}
	slices.Sort(parts)
	return parts, nil
}

// listOffsets returns, per partition, the offset at timestamp ts
// (-2 earliest, -1 latest; committed only).
func listOffsets(ctx context.Context, cl *kgo.Client, topic string, parts []int32, ts int64) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	req.IsolationLevel = 1 // read_committed: the last stable offset
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = ts
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(parts))
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("partition %d: %w", p.Partition, err)
			}
			out[p.Partition] = p.Offset
		}
	}
	if len(out) != len(parts) {
		return nil, fmt.Errorf("answer for %d of %d partitions", len(out), len(parts))
	}
	return out, nil
}
