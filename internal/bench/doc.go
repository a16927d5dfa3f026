// Package bench is the harness behind `floe bench`: the micro-batch
// trigger-interval benchmark.
//
// For every trigger interval, [Run] creates a fresh topic, produces contract
// events into it (all valid, encrypted, Avro, registered) and ingests them
// into a fresh table with floe's own pipeline, measuring throughput,
// event-to-visible latency, commits, data files, metadata growth, CPU and
// peak RSS. Each ingest normally runs in a child process (`floe bench
// --single`), so CPU seconds and peak RSS are the pipeline's alone; the
// broker and registry (in-process by default) and the producer live in the
// parent.
//
// Two modes: with Rate 0 the events are produced first and then ingested as
// fast as possible (throughput; latency is then measured from the moment the
// pipeline took each record); with Rate > 0 they are produced at that rate
// while the pipeline runs (latency, measured from each record's Kafka
// timestamp, stamped by the producer).
//
// Results leave as a Markdown table ([WriteMarkdown]), results.csv,
// results.json and chart.png ([WriteOutputs]).
package bench
