// Package telemetry turns the pipeline's events into Prometheus metrics and
// serves them with the health endpoints.
//
// Events enter through [Metrics], which implements ingest.Observer; they
// leave as the Prometheus text format on /metrics. /healthz answers while
// the process is alive; /readyz runs the readiness checks it is given
// (partitions assigned, catalog and registry reachable).
package telemetry
