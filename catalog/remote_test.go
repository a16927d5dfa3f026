package catalog_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/apache/iceberg-go/catalog/glue"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/internal/testserver"
)

// restRecorder answers the REST catalog's config, token and list-namespaces
// endpoints and records what the client sent. It is not a catalog: no REST
// catalog server runs on this machine, so these tests pin down how floe's
// options reach the wire, not create/commit behaviour.
type restRecorder struct {
	mu       sync.Mutex
	requests []string // "METHOD path?query auth"
	tokenReq string
}

func (r *restRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, req.Method+" "+req.URL.RequestURI()+" "+req.Header.Get("Authorization"))
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(req.URL.Path, "/oauth/tokens"):
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.tokenReq = string(body)
		r.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "issued-token", "token_type": "bearer", "expires_in": 3600})
	case req.URL.Path == "/v1/config":
		_ = json.NewEncoder(w).Encode(map[string]any{"defaults": map[string]string{}, "overrides": map[string]string{}})
	case strings.HasSuffix(req.URL.Path, "/namespaces"):
		_ = json.NewEncoder(w).Encode(map[string]any{"namespaces": [][]string{{"payments"}}})
	default:
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": "not found", "type": "NoSuchTableException", "code": 404}})
	}
}

func (r *restRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

func TestRESTTokenWarehouseAndPrefix(t *testing.T) {
	rec := &restRecorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	cat, err := catalog.Open(t.Context(), srv.URL, "analytics", map[string]string{"token": "t0ken", "prefix": "cat1"})
	if err != nil {
		t.Fatal(err)
	}
	closeCat(t, cat)
	if _, ok := cat.(*rest.Catalog); !ok {
		t.Fatalf("catalog is %T, want *rest.Catalog", cat)
	}
	if _, err := cat.ListNamespaces(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	got := rec.seen()
	if len(got) < 2 {
		t.Fatalf("requests %v", got)
	}
	if got[0] != "GET /v1/config?warehouse=analytics Bearer t0ken" {
		t.Errorf("config request %q", got[0])
	}
	if !strings.HasPrefix(got[len(got)-1], "GET /v1/cat1/namespaces") || !strings.HasSuffix(got[len(got)-1], "Bearer t0ken") {
		t.Errorf("list request %q: want the prefix and the token", got[len(got)-1])
	}
}

func TestRESTClientCredentials(t *testing.T) {
	rec := &restRecorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	cat, err := catalog.Open(t.Context(), srv.URL, "", map[string]string{
		"credential": "floe-client:s3cr3t", "oauth2-server-uri": srv.URL + "/auth/oauth/tokens",
	})
	if err != nil {
		t.Fatal(err)
	}
	closeCat(t, cat)
	if _, err := cat.ListNamespaces(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	form := rec.tokenReq
	rec.mu.Unlock()
	if !strings.Contains(form, "grant_type=client_credentials") || !strings.Contains(form, "client_id=floe-client") {
		t.Fatalf("token request %q is not a client-credentials grant", form)
	}
	last := rec.seen()[len(rec.seen())-1]
	if !strings.HasSuffix(last, "Bearer issued-token") {
		t.Fatalf("request %q does not use the issued token", last)
	}
}

func TestRESTUnreachableNamesNoSecret(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there now
	_, err := catalog.Open(t.Context(), srv.URL+"?x=1", "", map[string]string{"token": "t0ken-secret"})
	if err == nil {
		t.Fatal("open of an unreachable REST catalog succeeded")
	}
	if strings.Contains(err.Error(), "t0ken-secret") {
		t.Fatalf("error leaks the token: %v", err)
	}
}

// TestGlueOptions checks that glue:// reaches the Glue API with the catalog
// id, region and endpoint of the URI. The endpoint is a recorder: AWS Glue
// itself cannot be reached from this machine, so create/commit against Glue
// is not tested here.
func TestGlueOptions(t *testing.T) {
	s3 := testserver.StartS3(t)
	s3.CreateBucket(t, "wh")
	var (
		mu     sync.Mutex
		target string
		auth   string
		body   string
	)
	glueSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		target, auth, body = r.Header.Get("X-Amz-Target"), r.Header.Get("Authorization"), string(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"EntityNotFoundException","Message":"Database payments not found."}`))
	}))
	t.Cleanup(glueSrv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDGLUE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "glue-secret")

	cat, err := catalog.Open(t.Context(), "glue://123456789012?region=eu-west-1&endpoint="+glueSrv.URL, "s3://wh/glue", s3.Props())
	if err != nil {
		t.Fatal(err)
	}
	closeCat(t, cat)
	if _, ok := cat.(*glue.Catalog); !ok {
		t.Fatalf("catalog is %T, want *glue.Catalog", cat)
	}
	_, err = cat.LoadTable(t.Context(), table.Identifier{"payments", "transactions"})
	if err == nil {
		t.Fatal("load from the recorder succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if target != "AWSGlue.GetTable" {
		t.Errorf("Glue operation %q, want AWSGlue.GetTable", target)
	}
	if !strings.Contains(auth, "/eu-west-1/glue/") || !strings.Contains(auth, "AKIDGLUE") {
		t.Errorf("request not signed for eu-west-1 with the environment's key: %q", auth)
	}
	if !strings.Contains(body, `"CatalogId":"123456789012"`) {
		t.Errorf("request body %s lacks the catalog id", body)
	}
}

func TestGlueRejectsUnknownQuery(t *testing.T) {
	_, err := catalog.Open(t.Context(), "glue://?regoin=eu-west-1", "s3://b/w", nil)
	if !errors.Is(err, catalog.ErrUnsupportedURI) {
		t.Fatalf("err = %v, want ErrUnsupportedURI", err)
	}
}
