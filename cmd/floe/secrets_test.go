package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// secretInputs are one value for every way a user can hand floe a secret,
// each distinct so a leak names its source.
var secretInputs = map[string]string{
	"registry URL password":          "REGISTRY-URL-SECRET",
	"sasl.password (file)":           "SASL-FILE-SECRET",
	"ssl.keystore.password (file)":   "KEYSTORE-FILE-SECRET",
	"ssl.key.password (file)":        "KEYPASS-FILE-SECRET",
	"oauth client secret (file)":     "OIDC-FILE-SECRET",
	"sasl.oauthbearer.config (env)":  "OAUTHCONF-ENV-SECRET",
	"FLOE_S3_SECRET_ACCESS_KEY":      "S3-ENV-SECRET",
	"FLOE_CATALOG_TOKEN":             "CATALOG-TOKEN-SECRET",
	"FLOE_REGISTRY_PASSWORD":         "REGISTRY-ENV-SECRET",
	"--s3-access-key-id (redacted)":  "AKIA-KEY-ID-REDACTED",
	"catalog-credential-file secret": "CATALOG-CRED-SECRET",
}

// TestSecretsNeverLogged runs `floe run` against an in-process broker and
// registry with a secret in every input a user can give (URL user info,
// secret librdkafka properties in the config file and the environment, S3
// and catalog secrets), in text and JSON logs, and reads /metrics while it
// runs: no secret may appear. cmdRun is called directly, so the safety net
// realMain adds (replacing known secret values in all output) is not in
// the way: the rules alone must hold.
func TestSecretsNeverLogged(t *testing.T) {
	e := newProcEnv(t, 2)
	if err := <-e.produce(t, t.Context(), 7, 60, 0, "s"); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			cred := filepath.Join(dir, "credential")
			if err := os.WriteFile(cred, []byte("client:"+secretInputs["catalog-credential-file secret"]), 0o600); err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(dir, "floe.yaml")
			yaml := "kafka-config:\n" +
				"  sasl.password: " + secretInputs["sasl.password (file)"] + "\n" +
				"  ssl.keystore.password: " + secretInputs["ssl.keystore.password (file)"] + "\n" +
				"  ssl.key.password: " + secretInputs["ssl.key.password (file)"] + "\n" +
				"  sasl.oauthbearer.client.secret: " + secretInputs["oauth client secret (file)"] + "\n" +
				"  client.id: floe-secrets-test\n" +
				"catalog-credential-file: " + cred + "\n"
			if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			env := envFrom(map[string]string{
				"FLOE_KAFKA_CONFIG":         "sasl.oauthbearer.config=principal=floe extension_k=" + secretInputs["sasl.oauthbearer.config (env)"],
				envS3SecretAccessKey:        secretInputs["FLOE_S3_SECRET_ACCESS_KEY"],
				envCatalogToken:             secretInputs["FLOE_CATALOG_TOKEN"],
				"FLOE_REGISTRY_PASSWORD":    secretInputs["FLOE_REGISTRY_PASSWORD"],
				"FLOE_KAFKA_SASL_PASSWORD":  "",
				"FLOE_UNRELATED_SETTING_XX": "",
			})
			reg := strings.Replace(e.stack.RegistryURL, "http://", "http://floe:"+secretInputs["registry URL password"]+"@", 1)
			addr := freeAddr(t)
			args := e.runArgs("secrets-"+format,
				"--config", conf, "--registry-url", reg, "--registry-username", "floe",
				"--s3-access-key-id", secretInputs["--s3-access-key-id (redacted)"],
				"--http", addr, "--trigger", "200ms", "--log-format", format, "--compact-every", "0")[1:]
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			var stderr lockedBuffer
			done := make(chan error, 1)
			go func() { done <- cmdRun(ctx, args, env, io.Discard, &stderr) }()

			var metrics string
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				select {
				case err := <-done:
					t.Fatalf("floe run stopped early: %v\n%s", err, stderr.String())
				case <-time.After(200 * time.Millisecond):
				}
				_, metrics = scrape(t, "http://"+addr+"/metrics")
				if regexp.MustCompile(`(?m)^floe_rows_committed_total [1-9]`).MatchString(metrics) {
					break
				}
			}
			if !regexp.MustCompile(`(?m)^floe_rows_committed_total [1-9]`).MatchString(metrics) {
				t.Fatalf("no rows committed within 60s\n%s", stderr.String())
			}
			_, ready := scrape(t, "http://"+addr+"/readyz")
			stop()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("floe run: %v\n%s", err, stderr.String())
			}
			out := stderr.String()
			for what, secret := range secretInputs {
				for where, text := range map[string]string{"log": out, "/metrics": metrics, "/readyz": ready} {
					if strings.Contains(text, secret) {
						t.Errorf("%s (%s) appears in %s", what, secret, where)
					}
				}
			}
			// The configuration line is there and shows the redactions.
			for _, want := range []string{"configuration", "floe:[redacted]@127.0.0.1", "sasl.password=[redacted]",
				"ssl.keystore.password=[redacted]", "sasl.oauthbearer.client.secret=[redacted]", "client.id=floe-secrets-test"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			if t.Failed() {
				t.Logf("log:\n%s", out)
			}
		})
	}
}

// TestSecretsNotInErrors: start-up errors name the bad setting without
// echoing its secret, whether the URL is malformed (url.Parse's own error
// quotes the whole URL), unreachable, or a secret is given on the command
// line.
func TestSecretsNotInErrors(t *testing.T) {
	dir := t.TempDir()
	kr := filepath.Join(dir, "keyring.json")
	if err := os.WriteFile(kr, []byte(`{"keys":{"k1":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func(extra ...string) []string {
		return append([]string{"run", "--brokers", "127.0.0.1:1", "--keyring", kr,
			"--catalog", "sqlite://" + filepath.Join(dir, "c.db"), "--warehouse", "file://" + filepath.Join(dir, "w")}, extra...)
	}
	for _, c := range []struct {
		name   string
		args   []string
		secret string
		want   string
		code   int
	}{
		{"bad port", base("--registry-url", "https://key:BADPORT-SECRET@registry:port"), "BADPORT-SECRET", "--registry-url", 2},
		{"no scheme", base("--registry-url", "key:NOSCHEME-SECRET@registry:8081"), "NOSCHEME-SECRET", "must start with http", 2},
		{"s3 endpoint", base("--registry-url", "http://127.0.0.1:1", "--s3-endpoint", "minio:S3EP-SECRET@minio:9000"), "S3EP-SECRET", "--s3-endpoint", 2},
		{"unreachable registry", base("--registry-url", "http://key:UNREACH-SECRET@127.0.0.1:1"), "UNREACH-SECRET", "registry http://key:[redacted]@127.0.0.1:1", 1},
		{"secret flag", base("--registry-url", "http://127.0.0.1:1", "--kafka-config", "ssl.keystore.password=FLAG-SECRET"), "FLAG-SECRET", "ssl.keystore.password is a secret", 2},
		{"catalog", base("--registry-url", "http://127.0.0.1:1", "--catalog", "mysql://u:CATALOG-SECRET@db/x"), "CATALOG-SECRET", "", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := realMain(c.args, envFrom(nil), io.Discard, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, stderr.String())
			}
			if strings.Contains(stderr.String(), c.secret) {
				t.Errorf("the secret is in the error:\n%s", stderr.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("error lacks %q:\n%s", c.want, stderr.String())
			}
		})
	}
}

// TestSecretsRulesWithoutSafetyNet checks the rule-based redaction of the
// error paths without realMain's value replacement: validate, and the
// registry and catalog errors.
func TestSecretsRulesWithoutSafetyNet(t *testing.T) {
	cfg := defaultConfig()
	cfg.RegistryURL = "https://key:RULE-SECRET@registry:port"
	cfg.Storage.CatalogOAuth2URI = "https://id:RULE2-SECRET@auth/token?client_secret=RULE3-SECRET"
	cfg.Storage.S3Endpoint = "u:RULE4-SECRET@minio"
	err := cfg.validate()
	if err == nil {
		t.Fatal("bad URLs accepted")
	}
	for _, s := range []string{"RULE-SECRET", "RULE2-SECRET", "RULE3-SECRET", "RULE4-SECRET"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("%s in %v", s, err)
		}
	}
	var buf bytes.Buffer
	opts := cfg.runOptions()
	logConfig(newLogger(&buf, "info", "json"), opts)
	for _, s := range []string{"RULE-SECRET", "RULE2-SECRET", "RULE3-SECRET", "RULE4-SECRET"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("%s in the configuration line: %s", s, buf.String())
		}
	}
	_, err = assemble(t.Context(), wiring{RegistryURL: "http://key:RULE5-SECRET@127.0.0.1:1"})
	if err == nil || strings.Contains(err.Error(), "RULE5-SECRET") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("registry error: %v", err)
	}
}
