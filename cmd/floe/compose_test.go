package main

import (
	"bufio"
	"bytes"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// compose is the part of docker-compose.yml this test reads.
type compose struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck map[string]any `yaml:"healthcheck"`
	Volumes     []string       `yaml:"volumes"`
	Profiles    []string       `yaml:"profiles"`
	Ports       []string       `yaml:"ports"`
	Hostname    string         `yaml:"hostname"`
	PullPolicy  string         `yaml:"pull_policy"`
}

const repoRoot = "../.."

func readCompose(t *testing.T) compose {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// TestComposeFileValidates runs Compose's own validation when the
// docker-compose binary is installed (.ci/run installs Debian's; no engine
// is needed for `config`).
func TestComposeFileValidates(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose not installed (apt-get install docker-compose; .ci/run installs it)")
	}
	cmd := exec.Command(bin, "-f", "docker-compose.yml", "--profile", "spark", "config", "-q")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
}

// javaProps reads a Java properties / spark-defaults file (key=value or
// key value).
func javaProps(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(k, " \t") {
			fields := strings.Fields(line)
			k, v = fields[0], strings.Join(fields[1:], " ")
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

func bucketOf(t *testing.T, loc string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		t.Fatalf("%q is not an s3://bucket location", loc)
	}
	return u.Host
}

// flagValues reads --name=value arguments.
func flagValues(args []string) map[string]string {
	out := map[string]string{}
	for _, a := range args {
		if k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok {
			out[k] = v
		}
	}
	return out
}

// TestComposeAgreesWithFloe checks that the services' names, ports, topic,
// bucket and catalog agree with floe's own configuration in the file, and
// that floe's flags there are ones floe run accepts.
func TestComposeAgreesWithFloe(t *testing.T) {
	c := readCompose(t)
	svc := func(name string) composeService {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("no service %q in docker-compose.yml", name)
		}
		return s
	}
	for _, name := range []string{"kafka", "schema-registry", "minio", "minio-init", "iceberg-rest", "trino", "spark", "floe", "producer"} {
		svc(name)
	}

	// Pinned images.
	for name, s := range c.Services {
		if s.Image == "" {
			t.Errorf("service %s has no image", name)
			continue
		}
		if s.Build != nil {
			continue
		}
		if i := strings.LastIndex(s.Image, ":"); i < 0 || strings.HasSuffix(s.Image, ":latest") || strings.Contains(s.Image[i:], "/") {
			t.Errorf("service %s: image %q is not pinned to a version", name, s.Image)
		}
	}

	// floe run's command parses with floe's own option loader.
	floe := svc("floe")
	if len(floe.Command) == 0 || floe.Command[0] != "run" {
		t.Fatalf("floe service command %v does not start with run", floe.Command)
	}
	cfg := defaultConfig()
	rest, err := load("floe run", cfg.runOptions(), floe.Command[1:], envFrom(nil), io.Discard)
	if err != nil || len(rest) > 0 {
		t.Fatalf("floe run flags in docker-compose.yml: %v (left over %v)", err, rest)
	}

	// Kafka: floe and the producer use the internal advertised listener.
	kafka := svc("kafka")
	advertised := kafka.Environment["KAFKA_ADVERTISED_LISTENERS"]
	if !strings.Contains(","+advertised+",", ",PLAINTEXT://"+cfg.Brokers+",") {
		t.Errorf("--brokers=%s is not Kafka's advertised PLAINTEXT listener (%s)", cfg.Brokers, advertised)
	}
	if kafka.Environment["KAFKA_PROCESS_ROLES"] != "broker,controller" {
		t.Errorf("Kafka is not a single-node KRaft broker+controller")
	}

	// Schema Registry: URL = service name + listener port.
	reg := svc("schema-registry")
	listener := reg.Environment["SCHEMA_REGISTRY_LISTENERS"]
	port := listener[strings.LastIndex(listener, ":")+1:]
	if want := "http://schema-registry:" + port; cfg.RegistryURL != want {
		t.Errorf("--registry-url=%s, the registry listens at %s", cfg.RegistryURL, want)
	}
	if !strings.Contains(reg.Environment["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"], cfg.Brokers) {
		t.Errorf("the registry's Kafka store is not %s", cfg.Brokers)
	}

	// The producer writes what floe reads, with the same keyring.
	prod := svc("producer")
	if len(prod.Command) == 0 || prod.Command[0] != "produce" {
		t.Fatalf("producer command %v does not start with produce", prod.Command)
	}
	pf := flagValues(prod.Command[1:])
	for k, want := range map[string]string{"brokers": cfg.Brokers, "registry-url": cfg.RegistryURL, "topic": cfg.Topic, "keyring": cfg.Keyring} {
		if pf[k] != want {
			t.Errorf("producer --%s=%q, floe run has %q", k, pf[k], want)
		}
	}
	if !slicesHasPrefix(prod.Volumes, "keys:/keys") || !slicesHasPrefix(floe.Volumes, "keys:/keys") || !strings.HasPrefix(cfg.Keyring, "/keys/") {
		t.Errorf("producer and floe do not share the keys volume at /keys: %v, %v", prod.Volumes, floe.Volumes)
	}

	// One bucket everywhere: created by minio-init, floe's warehouse, the
	// REST catalog's, Trino's and Spark's.
	bucket := bucketOf(t, cfg.Warehouse)
	mb := regexp.MustCompile(`mc mb (?:--ignore-existing )?local/([a-z0-9.-]+)`).FindStringSubmatch(strings.Join(svc("minio-init").Command, " "))
	if mb == nil || mb[1] != bucket {
		t.Errorf("minio-init creates %v, floe writes to bucket %s", mb, bucket)
	}
	restSvc := svc("iceberg-rest")
	if got := bucketOf(t, restSvc.Environment["CATALOG_WAREHOUSE"]); got != bucket {
		t.Errorf("REST catalog warehouse bucket %s, floe's %s", got, bucket)
	}
	trino := javaProps(t, "deploy/trino/catalog/iceberg.properties")
	spark := javaProps(t, "deploy/spark/spark-defaults.conf")
	if got := bucketOf(t, trino["iceberg.rest-catalog.warehouse"]); got != bucket {
		t.Errorf("Trino warehouse bucket %s, floe's %s", got, bucket)
	}
	if got := bucketOf(t, spark["spark.sql.catalog.lake.warehouse"]); got != bucket {
		t.Errorf("Spark warehouse bucket %s, floe's %s", got, bucket)
	}

	// One REST catalog, one S3 endpoint.
	if cfg.Catalog != "http://iceberg-rest:8181" || !slicesHasPrefix(restSvc.Ports, "8181:") {
		t.Errorf("--catalog=%s; the REST service publishes %v", cfg.Catalog, restSvc.Ports)
	}
	for who, uri := range map[string]string{"Trino": trino["iceberg.rest-catalog.uri"], "Spark": spark["spark.sql.catalog.lake.uri"]} {
		if uri != cfg.Catalog {
			t.Errorf("%s's catalog %s, floe's %s", who, uri, cfg.Catalog)
		}
	}
	if trino["iceberg.catalog.type"] != "rest" || spark["spark.sql.catalog.lake.type"] != "rest" {
		t.Error("Trino or Spark is not configured with a REST Iceberg catalog")
	}
	for who, ep := range map[string]string{
		"REST catalog": restSvc.Environment["CATALOG_S3_ENDPOINT"], "Trino": trino["s3.endpoint"],
		"Spark": spark["spark.sql.catalog.lake.s3.endpoint"],
	} {
		if ep != cfg.Storage.S3Endpoint {
			t.Errorf("%s's S3 endpoint %s, floe's %s", who, ep, cfg.Storage.S3Endpoint)
		}
	}
	minio := svc("minio")
	user, pass := minio.Environment["MINIO_ROOT_USER"], minio.Environment["MINIO_ROOT_PASSWORD"]
	if trino["s3.aws-access-key"] != user || trino["s3.aws-secret-key"] != pass {
		t.Error("Trino's S3 keys are not MinIO's")
	}
	for _, name := range []string{"floe", "iceberg-rest", "spark"} {
		env := svc(name).Environment
		if env["AWS_ACCESS_KEY_ID"] != user || env["AWS_SECRET_ACCESS_KEY"] != pass {
			t.Errorf("service %s does not get MinIO's keys through the AWS environment", name)
		}
	}
	if !strings.Contains(strings.Join(svc("minio-init").Command, " "), user+" "+pass) {
		t.Error("minio-init does not log in with MinIO's root keys")
	}

	// Start ordering and health checks.
	for _, name := range []string{"kafka", "schema-registry", "minio", "iceberg-rest", "trino", "producer"} {
		if len(svc(name).Healthcheck) == 0 {
			t.Errorf("service %s has no health check", name)
		}
	}
	for dep, cond := range map[string]string{
		"kafka": "service_healthy", "schema-registry": "service_healthy", "iceberg-rest": "service_healthy",
		"minio-init": "service_completed_successfully", "producer": "service_healthy",
	} {
		if got := floe.DependsOn[dep].Condition; got != cond {
			t.Errorf("floe depends on %s with condition %q, want %q", dep, got, cond)
		}
	}
	if got := svc("iceberg-rest").DependsOn["minio-init"].Condition; got != "service_completed_successfully" {
		t.Errorf("the REST catalog starts before the bucket exists (condition %q)", got)
	}
	if p := svc("spark").Profiles; len(p) != 1 || p[0] != "spark" {
		t.Errorf("spark profiles %v, want [spark]", p)
	}

	// The REST catalog's SQLite file is on a named volume (it must live as
	// long as MinIO's data), mounted where the image's user can write.
	catURI := restSvc.Environment["CATALOG_URI"]
	dbFile := strings.TrimPrefix(catURI, "jdbc:sqlite:file:")
	if dbFile == catURI || !strings.HasPrefix(dbFile, "/") {
		t.Errorf("REST catalog CATALOG_URI %q is not a SQLite file", catURI)
	}
	onVolume := false
	for _, v := range restSvc.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		dst, _, _ = strings.Cut(dst, ":")
		if _, named := c.Volumes[src]; named && strings.HasPrefix(dbFile, strings.TrimSuffix(dst, "/")+"/") {
			onVolume = true
		}
	}
	if !onVolume || strings.HasPrefix(dbFile, "/tmp/") {
		t.Errorf("the REST catalog's %s is not on a named volume (%v): re-creating the container loses the catalog while MinIO keeps the data", dbFile, restSvc.Volumes)
	}

	// floe publishes its HTTP port and is health-checked through it.
	_, httpPort, _ := strings.Cut(cfg.HTTP, ":")
	if !slicesHasPrefix(floe.Ports, httpPort+":"+httpPort) {
		t.Errorf("floe does not publish --http port %s: %v", httpPort, floe.Ports)
	}
	hc, _ := floe.Healthcheck["test"].([]any)
	hcText := ""
	for _, a := range hc {
		hcText += " " + a.(string)
	}
	if !strings.Contains(hcText, "/"+httpPort) || !strings.Contains(hcText, "/readyz") {
		t.Errorf("floe's health check %q does not ask /readyz on port %s", hcText, httpPort)
	}

	// One image build: the floe service builds floe:local, the producer
	// uses it and never tries to pull it.
	builds := 0
	for name, s := range c.Services {
		if s.Build != nil {
			builds++
			if name != "floe" {
				t.Errorf("service %s builds an image; only floe should", name)
			}
		}
	}
	if builds != 1 || prod.Image != floe.Image || prod.PullPolicy != "never" {
		t.Errorf("want one build (floe) and the producer on the same image with pull_policy never: %d builds, images %q %q, pull_policy %q",
			builds, floe.Image, prod.Image, prod.PullPolicy)
	}

	// Spark: the image's entrypoint starts a worker against
	// spark://spark-iceberg:7077, so the container must be that host, and
	// the settings of the image's spark-defaults.conf that it relies on
	// must survive our file mounted over it.
	sparkSvc := svc("spark")
	if spark["spark.master"] != "spark://"+sparkSvc.Hostname+":7077" || sparkSvc.Hostname != "spark-iceberg" {
		t.Errorf("spark.master %q, Spark's host name %q: the image's worker connects to spark://spark-iceberg:7077", spark["spark.master"], sparkSvc.Hostname)
	}
	for k, want := range map[string]string{
		"spark.eventLog.enabled": "true", "spark.eventLog.dir": "/home/iceberg/spark-events",
		"spark.history.fs.logDirectory": "/home/iceberg/spark-events",
	} {
		if spark[k] != want {
			t.Errorf("deploy/spark/spark-defaults.conf: %s = %q, the image's is %q", k, spark[k], want)
		}
	}

	// The image floe runs from: a multi-stage cgo build.
	df, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(df, []byte("\nFROM ")) + bytes.Count(df[:min(len(df), 5)], []byte("FROM ")); n < 2 || !bytes.Contains(df, []byte("CGO_ENABLED=1")) {
		t.Error("Dockerfile is not a multi-stage cgo build")
	}
	if !regexp.MustCompile(`(?m)^EXPOSE\s+` + httpPort + `\b`).Match(df) {
		t.Errorf("Dockerfile does not EXPOSE floe's --http port %s", httpPort)
	}
	if !bytes.Contains(df, []byte("-s -w")) {
		t.Error("the image's binary is not stripped (-ldflags -s -w)")
	}
	di, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "node_modules"} {
		if !regexp.MustCompile(`(?m)^(\*\*/)?` + regexp.QuoteMeta(want) + `/?$`).Match(di) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
}

func slicesHasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
