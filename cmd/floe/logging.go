package main

import (
	"io"
	"log/slog"
)

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

// logConfig writes the effective settings, secrets redacted.
func logConfig(log *slog.Logger, opts []option) {
	attrs := make([]any, 0, 2*len(opts))
	for _, o := range opts {
		v := o.get()
		if o.secret && v != "" {
			v = "[redacted]"
		}
		attrs = append(attrs, o.name, v)
	}
	log.Info("configuration", attrs...)
}
