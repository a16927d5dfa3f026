package main

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/floe-io/floe/internal/redact"
)

// kafkaConfig holds the extra librdkafka properties of --kafka-config. They
// come from a YAML map in the config file (values taken verbatim), from
// FLOE_KAFKA_CONFIG and from repeated flags; each source adds to the
// properties of the ones before it, and a later source wins per property.
//
// Secret properties (sasl.password, ssl.keystore.password,
// sasl.oauthbearer.client.secret, ssl.key.pem, ...; see redact.KafkaSecret)
// are accepted from the file and the environment but refused on the command
// line, where every user of the machine can read them (ps, /proc). They are
// redacted wherever floe prints the configuration.
type kafkaConfig struct {
	props map[string]string
}

// reservedKafka are librdkafka properties floe sets itself: overriding them
// would break exactly-once.
var reservedKafka = map[string]bool{
	"enable.auto.commit": true, "enable.auto.offset.store": true, "group.id": true,
	"bootstrap.servers": true, "metadata.broker.list": true, "enable.idempotence": true,
	"group.instance.id": true, // --instance-id
}

func (k *kafkaConfig) option() option {
	return option{
		name: "kafka-config", kind: "key=value",
		usage: "extra librdkafka property key=value; repeat the flag for more, or give key=value,key=value " +
			"(a part without = continues the value before it: debug=consumer,cgrp). In the config file: " +
			"a YAML map, values verbatim. Secrets (sasl.password, ssl.keystore.password, ...) only from the file or the environment",
		set:      func(s string) error { return k.add(s, true) },
		fromFlag: func(s string) error { return k.add(s, false) },
		fromYAML: k.addYAML,
		get:      func() string { return redact.KafkaProps(k.props) },
		redacted: true,
	}
}

// Props returns a copy of the properties.
func (k *kafkaConfig) Props() map[string]string {
	out := make(map[string]string, len(k.props))
	for key, v := range k.props {
		out[key] = v
	}
	return out
}

// add parses "k=v[,k=v]" (newlines separate too) and merges it.
func (k *kafkaConfig) add(s string, secretsOK bool) error {
	pairs, err := parseKafkaList(s)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pairs {
		errs = append(errs, k.put(p[0], p[1], secretsOK))
	}
	return errors.Join(errs...)
}

func (k *kafkaConfig) addYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return k.add(n.Value, true)
	case yaml.MappingNode:
	default:
		return errors.New("want a map of librdkafka properties (or one key=value,... string)")
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if val.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("line %d: %s must be a single value", val.Line, key.Value))
			continue
		}
		if err := k.put(key.Value, val.Value, true); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", key.Line, err))
		}
	}
	return errors.Join(errs...)
}

func (k *kafkaConfig) put(key, val string, secretsOK bool) error {
	key = strings.TrimSpace(key)
	switch {
	case key == "":
		return errors.New("empty property name")
	case reservedKafka[key]:
		return fmt.Errorf("%s is set by floe (use the dedicated option)", key)
	case redact.KafkaSecret(key) && !secretsOK:
		return fmt.Errorf("%s is a secret: a command line is visible to every user of the machine; "+
			"give it in the --config file (kafka-config map) or in FLOE_KAFKA_CONFIG", key)
	}
	if redact.KafkaSensitive(key) {
		secrets.Add(val)
	}
	if k.props == nil {
		k.props = map[string]string{}
	}
	k.props[key] = val
	return nil
}

// parseKafkaList reads "k=v,k=v" into pairs. A comma- or newline-separated
// part without "=" belongs to the value before it, so list values such as
// debug=consumer,cgrp or partition.assignment.strategy=range,roundrobin
// need no quoting. Errors never quote a value (it may be a secret).
func parseKafkaList(s string) ([][2]string, error) {
	var out [][2]string
	var errs []error
	for _, line := range strings.Split(s, "\n") {
		for _, part := range strings.Split(line, ",") {
			key, val, ok := strings.Cut(part, "=")
			switch {
			case ok && strings.TrimSpace(key) != "":
				out = append(out, [2]string{strings.TrimSpace(key), strings.TrimSpace(val)})
			case !ok && len(out) > 0 && strings.TrimSpace(part) != "":
				out[len(out)-1][1] += "," + strings.TrimSpace(part)
			case strings.TrimSpace(part) == "":
				// "a=1,,b=2" or a trailing comma: nothing
			default:
				errs = append(errs, errors.New("want key=value: a part has no property name"))
			}
		}
	}
	return out, errors.Join(errs...)
}
