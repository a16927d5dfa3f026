//go:build !nodev

package devstack

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-io/floe/internal/contract"
)

// Options configure Start. The zero value is usable.
type Options struct {
	// Topic is created at start with Partitions partitions.
	// Default contract.DefaultTopic.
	Topic string
	// Partitions of Topic and of ExtraTopics. Default 4.
	Partitions int
	// ExtraTopics are created at start too (for example a dead-letter
	// topic). Others are created on first use (auto topic creation is on).
	ExtraTopics []string
	// KafkaPort is the broker's port on 127.0.0.1; 0 picks a free one.
	// A fixed port lets a test start a new Stack at the same address.
	KafkaPort int
	// RegistryPort is the Schema Registry's port on 127.0.0.1; 0 picks a
	// free one.
	RegistryPort int
	// DataDir, if set, makes the broker persist its state there and reload
	// it on start, so a Stack restarted on the same KafkaPort keeps its
	// topics, records and committed offsets.
	DataDir string
	// KafkaLogger receives the broker's log; nil discards it.
	KafkaLogger kfake.Logger
	// RegisterSchemas registers the contract schemas at start (see
	// contract.Register); the ids are in Stack.IDs.
	RegisterSchemas bool

	// KafkaTLS, when set, makes the broker accept TLS only.
	KafkaTLS *tls.Config
	// KafkaSASL, when set, makes the broker require SASL with this user
	// (Mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512).
	KafkaSASL *SASLUser
	// RegistryTLS, when set, serves the registry over HTTPS.
	RegistryTLS *tls.Config
	// RegistryUser and RegistryPassword, when set, make the registry
	// require HTTP basic auth.
	RegistryUser, RegistryPassword string
}

// SASLUser is a broker user.
type SASLUser struct{ Mechanism, User, Password string }

func (o *Options) ensureDefaults() {
	if o.Topic == "" {
		o.Topic = contract.DefaultTopic
	}
	if o.Partitions == 0 {
		o.Partitions = 4
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.Partitions < 1 || o.Partitions > 1<<20 {
		errs = append(errs, fmt.Errorf("partitions %d out of range", o.Partitions))
	}
	if o.KafkaPort < 0 || o.KafkaPort > 65535 {
		errs = append(errs, fmt.Errorf("kafka port %d out of range", o.KafkaPort))
	}
	if o.RegistryPort < 0 || o.RegistryPort > 65535 {
		errs = append(errs, fmt.Errorf("registry port %d out of range", o.RegistryPort))
	}
	for _, t := range o.ExtraTopics {
		if t == "" {
			errs = append(errs, errors.New("empty extra topic name"))
		}
	}
	return errors.Join(errs...)
}

// Stack is a running broker and Schema Registry. Close stops both.
type Stack struct {
	// Brokers are the broker addresses, host:port.
	Brokers []string
	// RegistryURL is the Schema Registry base URL, http://127.0.0.1:port.
	RegistryURL string
	// Topic is the events topic, created with Options.Partitions partitions.
	Topic string
	// Partitions of Topic.
	Partitions int
	// IDs are the contract schema ids if Options.RegisterSchemas was set.
	IDs contract.IDs

	cluster  *kfake.Cluster
	registry *srfake.Registry
	server   *http.Server
	served   chan error

	closeOnce sync.Once
	closeErr  error
}

// Start starts a Kafka-protocol broker and a Schema Registry on 127.0.0.1.
// The context bounds the start only (schema registration); the stack runs
// until Close.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("devstack: options: %w", err)
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(opts.KafkaPort),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(opts.Partitions),
		kfake.SeedTopics(int32(opts.Partitions), append([]string{opts.Topic}, opts.ExtraTopics...)...),
		// Tests kill consumers on purpose; a short minimum session lets
		// them use a 2 s session instead of Kafka's 6 s floor.
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	if opts.KafkaTLS != nil {
		kopts = append(kopts, kfake.TLS(opts.KafkaTLS))
	}
	if u := opts.KafkaSASL; u != nil {
		kopts = append(kopts, kfake.EnableSASL(), kfake.Superuser(u.Mechanism, u.User, u.Password))
	}
	if opts.KafkaLogger != nil {
		kopts = append(kopts, kfake.WithLogger(opts.KafkaLogger))
	}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("devstack: start broker: %w", err)
	}
	// A persisted cluster keeps its topics; make sure ours exist anyway.
	for _, t := range append([]string{opts.Topic}, opts.ExtraTopics...) {
		if cluster.TopicInfo(t) == nil {
			if err := cluster.CreateTopic(t, int32(opts.Partitions), nil); err != nil {
				cluster.Close()
				return nil, fmt.Errorf("devstack: create topic %s: %w", t, err)
			}
		}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.RegistryPort)))
	if err != nil {
		cluster.Close()
		return nil, fmt.Errorf("devstack: start registry: %w", err)
	}
	var regOpts []srfake.Option
	if opts.RegistryUser != "" {
		regOpts = append(regOpts, srfake.WithAuth("Basic "+base64.StdEncoding.EncodeToString([]byte(opts.RegistryUser+":"+opts.RegistryPassword))))
	}
	registry := srfake.NewRegistry(regOpts...)
	scheme := "http://"
	if opts.RegistryTLS != nil {
		ln = tls.NewListener(ln, opts.RegistryTLS)
		scheme = "https://"
	}
	s := &Stack{
		Brokers:     cluster.ListenAddrs(),
		RegistryURL: scheme + ln.Addr().String(),
		Topic:       opts.Topic,
		Partitions:  opts.Partitions,
		cluster:     cluster,
		registry:    registry,
		server: &http.Server{
			Handler:           registry.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
		},
		served: make(chan error, 1),
	}
	go func() { s.served <- s.server.Serve(ln) }()

	if opts.RegisterSchemas {
		ids, err := contract.Register(ctx, s.RegistryURL, nil)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("devstack: %w", err), s.Close())
		}
		s.IDs = ids
	}
	return s, nil
}

// BrokersString returns the broker addresses joined by commas, the form of
// librdkafka's bootstrap.servers.
func (s *Stack) BrokersString() string { return strings.Join(s.Brokers, ",") }

// Cluster returns the kfake cluster, for tests that inject faults or
// inspect groups.
func (s *Stack) Cluster() *kfake.Cluster { return s.cluster }

// Registry returns the srfake registry, for tests that seed or inspect it.
func (s *Stack) Registry() *srfake.Registry { return s.registry }

// Close stops the registry and the broker. It is safe to call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		if err := s.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("devstack: stop registry: %w", err))
		}
		if err := <-s.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("devstack: registry: %w", err))
		}
		s.cluster.Close()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
