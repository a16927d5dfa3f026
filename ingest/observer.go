package ingest

// Observer is told what the pipeline does, for metrics. The pipeline calls
// it from its own goroutine; implementations that are read elsewhere (an
// HTTP scrape) must synchronise themselves.
type Observer interface {
	// Consumed counts records taken from the source (valid or not).
	Consumed(n int)
	// DeadLettered counts one record sent to the dead-letter sink.
	DeadLettered(class string)
	// Committed reports one committed snapshot.
	Committed(ci CommitInfo)
	// Fenced reports a batch dropped because another writer committed
	// its offsets first.
	Fenced()
	// Lag reports, per assigned partition, the records between the end of
	// the partition and the next offset the table records.
	Lag(tp TopicPartition, lag int64)
	// Assigned reports the partitions the pipeline now owns.
	Assigned(tps []TopicPartition)
	// SchemaSeen reports the first record of a payload writer schema.
	SchemaSeen(id uint32)
}

type nopObserver struct{}

func (nopObserver) Consumed(int)              {}
func (nopObserver) DeadLettered(string)       {}
func (nopObserver) Committed(CommitInfo)      {}
func (nopObserver) Fenced()                   {}
func (nopObserver) Lag(TopicPartition, int64) {}
func (nopObserver) Assigned([]TopicPartition) {}
func (nopObserver) SchemaSeen(uint32)         {}
