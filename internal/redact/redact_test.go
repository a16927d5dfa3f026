package redact

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://key:s3cr3t@registry:8081/path", "https://key:[redacted]@registry:8081/path"},
		{"https://key@registry", "https://key@registry"},
		{"https://registry:8081", "https://registry:8081"},
		{"postgres://floe:pa:ss@db:5432/cat?sslmode=require", "postgres://floe:[redacted]@db:5432/cat?sslmode=require"},
		{"postgres://floe@db/cat?password=hunter22&sslmode=disable", "postgres://floe@db/cat?password=[redacted]&sslmode=disable"},
		// Does not parse as a URL (bad port), still redacted.
		{"https://key:s3cr3t@registry:bad", "https://key:[redacted]@registry:bad"},
		// No scheme at all.
		{"key:s3cr3t@registry:8081", "key:[redacted]@registry:8081"},
		// A password with an @ in it: the last @ ends the user info.
		{"https://u:p@ss@host/x", "https://u:[redacted]@host/x"},
		{"https://s3.example/b/k?X-Amz-Signature=abcd&X-Amz-Security-Token=tok", "https://s3.example/b/k?X-Amz-Signature=[redacted]&X-Amz-Security-Token=[redacted]"},
		{"host=db user=floe password=hunter22 dbname=c", "host=db user=floe password=[redacted] dbname=c"},
		{"sqlite:///data/catalog.db", "sqlite:///data/catalog.db"},
		{"s3://bucket/prefix", "s3://bucket/prefix"},
		{"", ""},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestKafkaSensitive(t *testing.T) {
	for _, k := range []string{
		"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem",
		"sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", "ssl_key",
		"sasl.oauthbearer.assertion.private.key.passphrase", "SASL.PASSWORD", "sasl.username",
	} {
		if !KafkaSensitive(k) {
			t.Errorf("%s is not sensitive", k)
		}
	}
	for _, k := range []string{"debug", "session.timeout.ms", "ssl.ca.location", "sasl.oauthbearer.token.endpoint.url", "ssl.certificate.pem", "client.id"} {
		if KafkaSensitive(k) {
			t.Errorf("%s is sensitive", k)
		}
	}
	for _, k := range []string{"sasl.username", "ssl.key.location", "ssl.ca.pem"} {
		if KafkaSecret(k) {
			t.Errorf("%s is a secret proper", k)
		}
	}
	if !KafkaSecret("sasl.password") || !KafkaSecret("ssl.key.pem") {
		t.Error("passwords and private keys are secrets")
	}
	got := KafkaProps(map[string]string{"debug": "consumer,cgrp", "sasl.password": "hunter22", "ssl.keystore.password": "ks-pass"})
	if got != "debug=consumer,cgrp, sasl.password=[redacted], ssl.keystore.password=[redacted]" {
		t.Errorf("KafkaProps = %q", got)
	}
}

func TestSetWriterTextAndJSON(t *testing.T) {
	var set Set
	secret := `pa"ss\word`
	set.Add(secret, "abc") // "abc" is too short to be replaced by value
	set.AddURL("https://key:url-secret@host")
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		w := set.Writer(&buf)
		var h slog.Handler = slog.NewTextHandler(w, nil)
		if format == "json" {
			h = slog.NewJSONHandler(w, nil)
		}
		slog.New(h).Info("start", "err", "auth failed for "+secret, "url", "https://key:url-secret@host", "word", "abc")
		out := buf.String()
		if strings.Contains(out, "url-secret") || strings.Contains(out, `pa\"ss`) || strings.Contains(out, `pa"ss`) {
			t.Errorf("%s: secret written: %s", format, out)
		}
		if !strings.Contains(out, Mask) || !strings.Contains(out, "abc") {
			t.Errorf("%s: want the mask and the short word kept: %s", format, out)
		}
		if format == "json" {
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Errorf("json line no longer parses: %v: %s", err, out)
			}
		}
	}
	if got := set.String("x url-secret y"); got != "x [redacted] y" {
		t.Errorf("String = %q", got)
	}
}
