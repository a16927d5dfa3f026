// Package kmstest starts a KMS-compatible server for tests: moto's server
// mode (moto_server), which speaks the AWS KMS JSON protocol over HTTP and
// really encrypts, so the tests drive it with the real aws-sdk-go-v2 client.
//
// The server is found as $FLOE_KMS_SERVER or moto_server on PATH. When it is
// missing a test is skipped, except under CI (CI set), where it fails: CI
// never silently skips the KMS tests (.ci/run checks the server first).
package kmstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Region is the region the test server is addressed with.
const Region = "us-east-1"

// Server is a running KMS-compatible server.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:PORT.
	URL string
	// Client is an aws-sdk-go-v2 KMS client for URL with Config.
	Client *kms.Client
	// Config carries the region and static test credentials.
	Config aws.Config
}

// Options of Start.
type Options struct {
	// AuthRequired makes the server check every request's credentials
	// against its (empty) IAM: any request is then refused, as AWS refuses
	// an unknown access key.
	AuthRequired bool
}

// Start starts a server on a free loopback port and stops it when the test
// ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := os.Getenv("FLOE_KMS_SERVER")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("moto_server"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("no KMS-compatible server: set FLOE_KMS_SERVER or put moto_server on PATH (%v)", err)
			}
			t.Skipf("no KMS-compatible server (moto_server) on PATH: %v", err)
		}
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=true")
	if opts.AuthRequired {
		cmd.Env = append(cmd.Env, "INITIAL_NO_AUTH_ACTION_COUNT=0")
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Config: Config("test", "test")}
	s.Client = kms.NewFromConfig(s.Config, func(o *kms.Options) { o.BaseEndpoint = aws.String(s.URL) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("%s exited: %v\n%s", bin, err, out.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen within 60s\n%s", bin, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Config returns an AWS configuration with static credentials in [Region].
func Config(accessKey, secret string) aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
	}
}

// CreateKey creates a symmetric KMS key and returns its ARN.
func (s *Server) CreateKey(ctx context.Context) (string, error) {
	out, err := s.Client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("floe test")})
	if err != nil {
		return "", err
	}
	if out.KeyMetadata == nil || out.KeyMetadata.Arn == nil {
		return "", errors.New("CreateKey returned no ARN")
	}
	return *out.KeyMetadata.Arn, nil
}

// Wrap encrypts a data key under the KMS key and returns the ciphertext
// blob.
func (s *Server) Wrap(ctx context.Context, kmsKey string, dataKey []byte, encCtx map[string]string) ([]byte, error) {
	out, err := s.Client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(kmsKey), Plaintext: dataKey, EncryptionContext: encCtx})
	if err != nil {
		return nil, err
	}
	return out.CiphertextBlob, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
