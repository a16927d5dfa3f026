//go:build nodev

package main

import (
	"context"
	"errors"
	"io"
)

// Built with -tags nodev: the in-process Kafka broker and Schema Registry
// (kfake, srfake) that `floe demo` and `floe bench` run on, and the bench's
// chart plotting, are left out of the binary. See BENCHMARKS.md ("binary size")
// for what that saves.

var errNoDev = errors.New("not in this build (built with -tags nodev, which leaves out the in-process broker and registry); use a build without the tag")

func cmdDemo(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
	return errNoDev
}

func cmdBench(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
	return errNoDev
}
