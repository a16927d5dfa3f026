package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
)

// testCA makes a CA and a server certificate for 127.0.0.1; it writes the
// CA to caFile and returns the server's TLS config and a client pool.
func testCA(t *testing.T, caFile string) (*tls.Config, *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "floe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}, MinVersion: tls.VersionTLS12}, pool
}

type basicAuth struct {
	user, pass string
	rt         http.RoundTripper
}

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.pass)
	return b.rt.RoundTrip(r)
}

// TestSecureTransport runs a backfill against a broker that requires TLS
// and SASL/SCRAM and a registry that requires HTTPS and basic auth; the
// passwords come from the environment and never appear in floe's output.
func TestSecureTransport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, a registry and a catalog")
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	srvTLS, pool := testCA(t, caFile)
	const kafkaPass, regPass = "kafka-s3cret-pw", "registry-s3cret-pw"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := devstack.Start(ctx, devstack.Options{
		Partitions: 2, KafkaTLS: srvTLS,
		KafkaSASL:   &devstack.SASLUser{Mechanism: "SCRAM-SHA-256", User: "floe", Password: kafkaPass},
		RegistryTLS: srvTLS, RegistryUser: "floe", RegistryPassword: regPass,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	client := &http.Client{Transport: basicAuth{"floe", regPass, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	ids, err := contract.Register(ctx, st.RegistryURL, client)
	if err != nil {
		t.Fatal(err)
	}
	keyring := devstack.GenerateKeyring("k1")
	keyFile := filepath.Join(dir, "keyring.json")
	if err := devstack.WriteKeyringFile(keyFile, keyring); err != nil {
		t.Fatal(err)
	}
	gen, err := devstack.NewGenerator(devstack.GenOptions{Seed: 31, Keys: keyring, IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	events := gen.Events(500)
	if err := devstack.Produce(ctx, st.Brokers, st.Topic, events, devstack.WithClientOptions(
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: "floe", Pass: kafkaPass}.AsSha256Mechanism()),
	)); err != nil {
		t.Fatal(err)
	}

	args := []string{"backfill", "--brokers", st.BrokersString(), "--registry-url", st.RegistryURL,
		"--topic", st.Topic, "--keyring", keyFile, "--progress", "none", "--log-level", "debug",
		"--catalog", "sqlite://" + filepath.Join(dir, "catalog.db"), "--warehouse", "file://" + filepath.Join(dir, "wh"),
		"--table", "secure.payments",
		"--kafka-security-protocol", "sasl_ssl", "--kafka-sasl-mechanism", "SCRAM-SHA-256",
		"--kafka-sasl-username", "floe", "--kafka-ca-file", caFile,
		"--registry-username", "floe", "--registry-ca-file", caFile,
	}
	env := envFrom(map[string]string{"FLOE_KAFKA_SASL_PASSWORD": kafkaPass, "FLOE_REGISTRY_PASSWORD": regPass})
	var out, errb bytes.Buffer
	if code := realMain(args, env, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "500 rows committed") {
		t.Errorf("summary:\n%s", out.String())
	}
	for _, pw := range []string{kafkaPass, regPass} {
		if strings.Contains(out.String()+errb.String(), pw) {
			t.Errorf("a password appears in floe's output")
		}
	}

	// A wrong registry password is refused at start-up, clearly.
	out.Reset()
	errb.Reset()
	bad := envFrom(map[string]string{"FLOE_KAFKA_SASL_PASSWORD": kafkaPass, "FLOE_REGISTRY_PASSWORD": "wrong"})
	if code := realMain(args, bad, &out, &errb); code != 1 || !strings.Contains(errb.String(), "registry") {
		t.Errorf("wrong registry password: exit %d\n%s", code, errb.String())
	}
}
