package testserver

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3 is an S3-compatible server on 127.0.0.1 (path-style addressing).
type S3 struct {
	// Endpoint is the base URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKeyID and SecretAccessKey are accepted by the server (it does
	// not check signatures); clients sign requests with them as with AWS.
	AccessKeyID, SecretAccessKey string

	backend *s3mem.Backend
	handler http.Handler
	mu      sync.Mutex
	srv     *httptest.Server // nil while stopped
}

// StartS3 starts an in-memory S3 server for the duration of t.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	backend := s3mem.New()
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	s := &S3{AccessKeyID: "floe-test", SecretAccessKey: "floe-test-secret", backend: backend, handler: faker.Server()}
	s.srv = httptest.NewServer(s.handler)
	s.Endpoint = s.srv.URL
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.srv != nil {
			s.srv.Close()
		}
	})

	return s
}

// Stop closes the listener and every connection: clients get connection
// refused until Start. The objects stay.
func (s *S3) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.CloseClientConnections()
		s.srv.Close()
		s.srv = nil
	}
}

// Start serves the same objects again on the same address.
func (s *S3) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	addr := strings.TrimPrefix(s.Endpoint, "http://")
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("s3 restart on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(s.handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	s.srv = srv
}

// CreateBucket creates bucket name.
func (s *S3) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if err := s.backend.CreateBucket(name); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// Props are the FileIO properties that reach this server.
func (s *S3) Props() map[string]string {
	return map[string]string{
		"s3.endpoint":          s.Endpoint,
		"s3.region":            "us-east-1",
		"s3.access-key-id":     s.AccessKeyID,
		"s3.secret-access-key": s.SecretAccessKey,
	}
}

// Objects lists the keys under prefix in bucket.
func (s *S3) Objects(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	list, err := s.backend.ListBucket(bucket, &gofakes3.Prefix{Prefix: prefix, HasPrefix: prefix != ""}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatalf("list %s/%s: %v", bucket, prefix, err)
	}
	keys := make([]string, 0, len(list.Contents))
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}

	return keys
}

// PutObject writes body at key in bucket, bypassing any client.
func (s *S3) PutObject(t testing.TB, bucket, key string, body []byte) {
	t.Helper()
	if _, err := s.backend.PutObject(bucket, key, map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}
