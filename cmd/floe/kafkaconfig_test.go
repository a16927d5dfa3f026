package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestKafkaConfigSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "floe.yaml")
	yaml := "kafka-config:\n" +
		"  sasl.oauthbearer.extensions: supportFeatureX=true,organizationId=sales\n" +
		"  session.timeout.ms: 45000\n" +
		"  sasl.password: from-file-pw\n" +
		"  client.id: from-file\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	env := envFrom(map[string]string{"FLOE_KAFKA_CONFIG": "client.id=from-env\nssl.keystore.password=env-pw"})
	_, err := load("floe run", cfg.runOptions(), []string{"--config", file,
		"--kafka-config", "debug=consumer,cgrp",
		"--kafka-config", "partition.assignment.strategy=range,roundrobin,fetch.wait.max.ms=50",
		"--kafka-config", "client.id=from-flag",
	}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"sasl.oauthbearer.extensions":   "supportFeatureX=true,organizationId=sales", // YAML: verbatim
		"session.timeout.ms":            "45000",
		"sasl.password":                 "from-file-pw",
		"ssl.keystore.password":         "env-pw",
		"debug":                         "consumer,cgrp",
		"partition.assignment.strategy": "range,roundrobin",
		"fetch.wait.max.ms":             "50",
		"client.id":                     "from-flag", // flag over env over file
	}
	if got := cfg.Kafka.Props(); !reflect.DeepEqual(got, want) {
		t.Errorf("props:\n got %v\nwant %v", got, want)
	}
	shown := cfg.Kafka.option().get()
	if strings.Contains(shown, "from-file-pw") || strings.Contains(shown, "env-pw") || !strings.Contains(shown, "debug=consumer,cgrp") {
		t.Errorf("shown as %q", shown)
	}
}

func TestKafkaConfigRefusals(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--kafka-config", "sasl.password=hunter22"}, "", "sasl.password is a secret"},
		{[]string{"--kafka-config", "sasl.oauthbearer.client.secret=x1234"}, "", "sasl.oauthbearer.client.secret is a secret"},
		{[]string{"--kafka-config", "ssl.key.pem=-----BEGIN"}, "", "ssl.key.pem is a secret"},
		{[]string{"--kafka-config", "group.id=g"}, "", "group.id is set by floe"},
		{nil, "enable.auto.commit=true", "enable.auto.commit is set by floe"},
		{[]string{"--kafka-config", "=x"}, "", "no property name"},
	} {
		cfg := defaultConfig()
		_, err := load("floe run", cfg.runOptions(), c.args, envFrom(map[string]string{"FLOE_KAFKA_CONFIG": c.env}), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %q: err %v, want %q", c.args, c.env, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "hunter22") || strings.Contains(err.Error(), "x1234")) {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
	// A username on the command line is fine (librdkafka flags it sensitive,
	// but it is no secret), and so is a password from the environment.
	cfg := defaultConfig()
	if _, err := load("floe run", cfg.runOptions(), []string{"--kafka-config", "sasl.username=u"},
		envFrom(map[string]string{"FLOE_KAFKA_CONFIG": "sasl.password=pw12"}), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	// The same property from --kafka-config and a dedicated option: refused.
	cfg.Transport.KafkaSASLUsername = "other"
	if _, _, err := connectionSettings(&cfg, envFrom(nil)); err == nil || !strings.Contains(err.Error(), "sasl.username") {
		t.Errorf("conflict: %v", err)
	}
	cfg.Transport.KafkaSASLUsername = "u"
	props, _, err := connectionSettings(&cfg, envFrom(nil))
	if err != nil || props["sasl.password"] != "pw12" {
		t.Errorf("the password from FLOE_KAFKA_CONFIG is lost: %v %v", props, err)
	}
}
