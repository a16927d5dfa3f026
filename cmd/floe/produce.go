package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/redact"
	"github.com/floe-io/floe/keys"
)

// produceConfig is every setting of `floe produce`.
type produceConfig struct {
	brokers      string
	registryURL  string
	topic        string
	rate         int
	events       int64
	invalidShare float64
	merchants    int
	keyring      string
}

// cmdProduce generates contract events (encrypted payments, a share of them
// invalid on purpose) into any Kafka cluster and Schema Registry: the load
// generator of the docker-compose stack and of benchmarks.
func cmdProduce(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	pc := produceConfig{}
	fs := flag.NewFlagSet("floe produce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&pc.brokers, "brokers", getenv("FLOE_BROKERS"), "Kafka bootstrap servers host:port[,host:port] (env FLOE_BROKERS)")
	fs.StringVar(&pc.registryURL, "registry-url", getenv("FLOE_REGISTRY_URL"), "Schema Registry base URL (env FLOE_REGISTRY_URL)")
	fs.StringVar(&pc.topic, "topic", "payments.transactions", "topic to produce to")
	fs.IntVar(&pc.rate, "rate", 1000, "events per second; 0 = as fast as the broker takes them")
	fs.Int64Var(&pc.events, "events", 0, "events to produce; 0 = until interrupted")
	fs.Float64Var(&pc.invalidShare, "invalid-share", 0.01, "share of invalid events, spread over the error classes")
	fs.IntVar(&pc.merchants, "merchants", 40, "distinct merchants")
	fs.StringVar(&pc.keyring, "keyring", getenv("FLOE_KEYRING"), "keyring file; created with keys k1 and k2 if missing (env FLOE_KEYRING). floe run needs the same file")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %v", fs.Args()))
	}
	if strings.TrimSpace(pc.brokers) == "" {
		errs = append(errs, errors.New("--brokers is required"))
	}
	secrets.AddURL(pc.registryURL)
	if err := checkHTTPURL("registry-url", pc.registryURL); err != nil {
		errs = append(errs, err)
	}
	if pc.topic == "" {
		errs = append(errs, errors.New("--topic is required"))
	}
	if pc.rate < 0 {
		errs = append(errs, errors.New("--rate: must be 0 or positive"))
	}
	if pc.events < 0 {
		errs = append(errs, errors.New("--events: must be 0 or positive"))
	}
	if pc.invalidShare < 0 || pc.invalidShare >= 1 {
		errs = append(errs, errors.New("--invalid-share: must be in [0, 1)"))
	}
	if pc.merchants <= 0 {
		errs = append(errs, errors.New("--merchants: must be positive"))
	}
	if pc.keyring == "" {
		errs = append(errs, errors.New("--keyring is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}

	keyring, created, err := keyringFor(pc.keyring)
	if err != nil {
		return err
	}
	defer func() {
		for _, k := range keyring {
			clear(k)
		}
	}()
	if created {
		fmt.Fprintf(stdout, "created keyring %s (keys k1, k2); floe run needs this same file\n", pc.keyring)
	}
	ids, err := contract.Register(ctx, pc.registryURL, nil)
	if err != nil {
		return fmt.Errorf("registering the contract schemas at %s: %w", redact.URL(pc.registryURL), err)
	}
	runID := time.Now().UTC().Format("20060102T150405.000Z")
	gen, err := devstack.NewGenerator(devstack.GenOptions{
		Seed: time.Now().UnixNano(), Merchants: pc.merchants, Keys: keyring, IDs: ids,
		InvalidShare: pc.invalidShare, Prefix: "prod-" + runID + "-", Clock: time.Now,
	})
	if err != nil {
		return err
	}
	limit := pc.events
	if limit == 0 {
		limit = -1
	}
	fmt.Fprintf(stdout, "producing to %s at %s (%s)\n", pc.topic, pc.brokers, rateText(pc.rate, pc.events))
	began := time.Now()
	n, err := devstack.ProduceStream(ctx, strings.Split(pc.brokers, ","), pc.topic, gen.Take(limit), pc.rate,
		devstack.WithClientOptions(kgo.AllowAutoTopicCreation()))
	fmt.Fprintf(stdout, "produced %d events in %s\n", n, time.Since(began).Round(time.Millisecond))
	if err != nil && pc.events == 0 && ctx.Err() != nil {
		return nil // interrupted: the normal end of an endless run
	}
	return err
}

// keyringFor reads the keyring at path, or creates one with keys k1 and k2
// when the file does not exist.
func keyringFor(path string) (map[string][]byte, bool, error) {
	k, err := keys.ReadFile(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	k, err = keys.GenerateFile(path, "k1", "k2")
	if errors.Is(err, fs.ErrExist) {
		// Another producer created it meanwhile.
		k, err = keys.ReadFile(path)
		return k, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return k, true, nil
}

func rateText(rate int, events int64) string {
	r := "as fast as possible"
	if rate > 0 {
		r = fmt.Sprintf("%d events/s", rate)
	}
	if events == 0 {
		return r + ", until interrupted"
	}
	return fmt.Sprintf("%s, %d events", r, events)
}
