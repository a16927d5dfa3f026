package main

import (
	"io"
	"log/slog"

	"github.com/floe-io/floe/internal/redact"
)

// secrets holds every secret value floe was given (passwords in URLs,
// secret librdkafka properties, keys and tokens read from files or the
// environment). realMain writes stdout and stderr through it, so a secret
// that reaches a message by any path (a library's error text) is replaced
// there; the rules below keep them out in the first place.
var secrets redact.Set

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	switch level {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// logConfig writes the effective settings, secrets redacted: options
// marked secret, the password of any URL's user info, secret librdkafka
// properties.
func logConfig(log *slog.Logger, opts []option) {
	attrs := make([]any, 0, 2*len(opts))
	for _, o := range opts {
		v := o.get()
		switch {
		case o.secret && v != "":
			v = redact.Mask
		case !o.redacted:
			v = redact.URL(v)
		}
		attrs = append(attrs, o.name, v)
	}
	log.Info("configuration", attrs...)
}
