// Package testserver starts real peers for floe's tests: an S3-compatible
// object store speaking the S3 REST protocol over HTTP (gofakes3, in
// process) and a PostgreSQL server (Debian's binaries, run as an
// unprivileged user in a temporary directory on a free port).
//
// Each server lives for one test: it is stopped and its files removed by
// t.Cleanup. PostgreSQL tests are skipped, with a message saying how to
// install it, only when the binaries are absent; .ci/run installs them.
package testserver
