package schema

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

const (
	contentType = "application/vnd.schemaregistry.v1+json"
	// maxResponse bounds how much of a registry response is read.
	maxResponse = 8 << 20
	// errorCodeSchemaNotFound is the registry's error_code for an unknown id.
	errorCodeSchemaNotFound = 40403
	// maxReferenceDepth bounds chains of schema references.
	maxReferenceDepth = 32
	maxBackoff        = 5 * time.Second
)

// Registry is a Confluent Schema Registry client: a thin wrapper around
// franz-go's pkg/sr client that caches schemas by id forever (an id is
// immutable), compiles each once, resolves schema references, retries
// transient failures, and makes one fetch per id however many goroutines
// ask at once. It is safe for concurrent use.
type Registry struct {
	base string // scheme://host[:port][/path], no trailing slash, no userinfo
	cfg  registryConfig
	cl   *sr.Client

	mu       sync.RWMutex
	cache    map[uint32]cacheEntry
	inflight map[uint32]*fetchCall
}

// cacheEntry is a schema, or a permanent error (ErrInvalidSchema) for its id.
type cacheEntry struct {
	s   *Schema
	err error
}

type fetchCall struct {
	done chan struct{}
	s    *Schema
	err  error
}

// NewRegistry returns a client for the registry at baseURL
// (e.g. "http://127.0.0.1:8081"). Credentials in the URL's userinfo are
// sent as basic authentication and never appear in errors. It does no I/O;
// see Ping.
func NewRegistry(baseURL string, opts ...RegistryOption) (*Registry, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, userinfo included.
		return nil, errors.New("schema: registry URL: not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("schema: registry URL %q: want http(s)://host[:port][/path]", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("schema: registry URL %q: query and fragment are not allowed", u.Redacted())
	}
	cfg := defaultRegistryConfig()
	if u.User != nil {
		pass, _ := u.User.Password()
		cfg.user, cfg.password, cfg.auth = u.User.Username(), pass, true
		u.User = nil
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	base := strings.TrimRight(u.String(), "/")

	// The response size bound wraps the caller's transport; the caller's
	// client itself is not modified.
	hc := *cfg.client
	inner := hc.Transport
	if inner == nil {
		inner = http.DefaultTransport
	}
	hc.Transport = limitTransport{inner}
	srOpts := []sr.ClientOpt{sr.URLs(base), sr.HTTPClient(&hc), sr.UserAgent("floe")}
	switch {
	case cfg.token != nil:
		token := cfg.token
		srOpts = append(srOpts, sr.PreReq(func(req *http.Request) error {
			t, err := token(req.Context())
			if err != nil {
				return tokenError{err}
			}
			req.Header.Set("Authorization", "Bearer "+t)
			return nil
		}))
	case cfg.bearer != "":
		srOpts = append(srOpts, sr.BearerToken(cfg.bearer))
	case cfg.auth:
		srOpts = append(srOpts, sr.BasicAuth(cfg.user, cfg.password))
	}
	cl, err := sr.NewClient(srOpts...)
	if err != nil {
		return nil, fmt.Errorf("schema: registry client: %w", err)
	}
	return &Registry{
		base:     base,
		cfg:      cfg,
		cl:       cl,
		cache:    map[uint32]cacheEntry{},
		inflight: map[uint32]*fetchCall{},
	}, nil
}

// URL is the registry's base URL without credentials (for logs and errors).
func (r *Registry) URL() string { return r.base }

// Schema returns the compiled schema with the given id, from the cache or
// the registry. Errors wrap ErrUnknownSchema only when the registry says the
// id does not exist; ErrRegistryUnavailable when a retry may help (the
// client has already retried); ErrInvalidSchema when the schema exists but
// cannot be used; or the context's error.
func (r *Registry) Schema(ctx context.Context, id uint32) (*Schema, error) {
	r.mu.RLock()
	e, ok := r.cache[id]
	r.mu.RUnlock()
	if ok {
		return e.s, e.err
	}
	for {
		r.mu.Lock()
		if e, ok := r.cache[id]; ok {
			r.mu.Unlock()
			return e.s, e.err
		}
		c, waiting := r.inflight[id]
		if !waiting {
			c = &fetchCall{done: make(chan struct{})}
			r.inflight[id] = c
			r.mu.Unlock()

			c.s, c.err = r.fetch(ctx, id)

			r.mu.Lock()
			delete(r.inflight, id)
			if c.err == nil || errors.Is(c.err, ErrInvalidSchema) {
				r.cache[id] = cacheEntry{c.s, c.err}
			}
			r.mu.Unlock()
			close(c.done)
			return c.s, c.err
		}
		r.mu.Unlock()

		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("schema: schema %d: %w", id, context.Cause(ctx))
		case <-c.done:
		}
		if c.err != nil && isContextErr(c.err) && ctx.Err() == nil {
			continue // the fetching caller gave up; fetch for ourselves
		}
		return c.s, c.err
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// schemaResponse is the part of GET /schemas/ids/{id} and
// GET /subjects/{subject}/versions/{version} floe reads. The type stays a
// string: pkg/sr's SchemaType refuses to decode types it does not know.
type schemaResponse struct {
	Schema     string               `json:"schema"`
	SchemaType string               `json:"schemaType"`
	References []sr.SchemaReference `json:"references"`
}

func (s *schemaResponse) avro() bool {
	return s.SchemaType == "" || strings.EqualFold(s.SchemaType, "AVRO")
}

func (r *Registry) fetch(ctx context.Context, id uint32) (*Schema, error) {
	path := "/schemas/ids/" + strconv.FormatUint(uint64(id), 10)
	var resp schemaResponse
	err := r.retry(ctx, func() error { return r.do(ctx, http.MethodGet, path, nil, &resp) })
	var re *RegistryError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound &&
		(re.ErrorCode == 0 || re.ErrorCode == errorCodeSchemaNotFound || re.ErrorCode == http.StatusNotFound) {
		return nil, fmt.Errorf("schema: %w: id %d: %w", ErrUnknownSchema, id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("schema: fetch schema %d: %w", id, err)
	}
	if !resp.avro() {
		return nil, fmt.Errorf("schema: %w: schema %d is %s, not AVRO", ErrInvalidSchema, id, resp.SchemaType)
	}
	text := resp.Schema
	if len(resp.References) > 0 {
		refs, err := r.references(ctx, resp.References, map[string]bool{}, 0)
		if err != nil {
			return nil, fmt.Errorf("schema: schema %d: %w", id, err)
		}
		if text, err = inlineReferences(text, refs); err != nil {
			return nil, fmt.Errorf("schema: %w: schema %d: references: %w", ErrInvalidSchema, id, err)
		}
	}
	s, err := Compile(id, text)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return s, nil
}

// references fetches the schemas refs name (subject and version), each with
// its own references inlined, in refs order. seen holds the subject
// versions on the current path, to refuse cycles.
func (r *Registry) references(ctx context.Context, refs []sr.SchemaReference, seen map[string]bool, depth int) ([]string, error) {
	if depth >= maxReferenceDepth {
		return nil, fmt.Errorf("%w: references nested deeper than %d", ErrInvalidSchema, maxReferenceDepth)
	}
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		key := ref.Subject + "\x00" + strconv.Itoa(ref.Version)
		if seen[key] {
			return nil, fmt.Errorf("%w: reference cycle through subject %q version %d", ErrInvalidSchema, ref.Subject, ref.Version)
		}
		if ref.Version < 1 {
			return nil, fmt.Errorf("%w: reference %q: version %d", ErrInvalidSchema, ref.Name, ref.Version)
		}
		path := "/subjects/" + url.PathEscape(ref.Subject) + "/versions/" + strconv.Itoa(ref.Version)
		var ss schemaResponse
		err := r.retry(ctx, func() error { return r.do(ctx, http.MethodGet, path, nil, &ss) })
		var re *RegistryError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			// The referenced version is gone: the schema cannot be compiled,
			// and a schema id's references never change.
			return nil, fmt.Errorf("%w: reference %q (subject %q version %d): %w", ErrInvalidSchema, ref.Name, ref.Subject, ref.Version, err)
		}
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", ref.Name, err)
		}
		if !ss.avro() {
			return nil, fmt.Errorf("%w: reference %q is %s, not AVRO", ErrInvalidSchema, ref.Name, ss.SchemaType)
		}
		text := ss.Schema
		if len(ss.References) > 0 {
			seen[key] = true
			nested, err := r.references(ctx, ss.References, seen, depth+1)
			delete(seen, key)
			if err != nil {
				return nil, err
			}
			if text, err = inlineReferences(text, nested); err != nil {
				return nil, fmt.Errorf("%w: reference %q: %w", ErrInvalidSchema, ref.Name, err)
			}
		}
		out = append(out, text)
	}
	return out, nil
}

// Register registers schemaJSON (an Avro schema) under subject and returns
// its id (POST /subjects/{subject}/versions). Registering a schema the
// subject already holds returns the existing id.
func (r *Registry) Register(ctx context.Context, subject, schemaJSON string) (uint32, error) {
	return r.RegisterWithReferences(ctx, subject, schemaJSON, nil)
}

// Reference names a schema registered under Subject at Version, whose named
// type Name (its full name) a schema uses.
type Reference = sr.SchemaReference

// RegisterWithReferences is Register for a schema that uses named types of
// other registered schemas.
func (r *Registry) RegisterWithReferences(ctx context.Context, subject, schemaJSON string, refs []Reference) (uint32, error) {
	if subject == "" {
		return 0, errors.New("schema: register: empty subject")
	}
	var resp struct {
		ID *int64 `json:"id"`
	}
	path := "/subjects/" + url.PathEscape(subject) + "/versions"
	body := sr.Schema{Schema: schemaJSON, References: refs}
	if err := r.retry(ctx, func() error { return r.do(ctx, http.MethodPost, path, body, &resp) }); err != nil {
		return 0, fmt.Errorf("schema: register %s: %w", subject, err)
	}
	if resp.ID == nil || *resp.ID < 0 || *resp.ID > int64(^uint32(0)) {
		return 0, fmt.Errorf("schema: register %s: %w: response has no valid id", subject, ErrRegistryUnavailable)
	}
	return uint32(*resp.ID), nil
}

// Ping checks that the registry answers (GET /subjects). Use it at start-up:
// a wrong base URL would otherwise look like unknown schemas.
func (r *Registry) Ping(ctx context.Context) error {
	var subjects []string
	if err := r.retry(ctx, func() error { return r.do(ctx, http.MethodGet, "/subjects", nil, &subjects) }); err != nil {
		return fmt.Errorf("schema: ping registry: %w", err)
	}
	return nil
}

// retry runs call until it succeeds, fails in a way a retry cannot help,
// the retries are spent or ctx ends (then the last error is returned).
func (r *Registry) retry(ctx context.Context, call func() error) error {
	wait := r.cfg.backoff
	for attempt := 0; ; attempt++ {
		err := call()
		if err == nil || !errors.Is(err, ErrRegistryUnavailable) || attempt >= r.cfg.retries {
			return err
		}
		d := wait/2 + rand.N(wait/2+1) // jitter: [wait/2, wait]
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// do sends one request through the pkg/sr client and maps its errors to
// floe's classes. Non-2xx answers are *RegistryError, wrapped with
// ErrRegistryUnavailable when retrying may help (5xx, 408, 429); transport
// failures and unreadable answers are ErrRegistryUnavailable unless the
// context ended. No error carries the base URL (so no credentials either).
func (r *Registry) do(ctx context.Context, method, path string, body, out any) error {
	err := r.cl.Do(ctx, method, path, body, out)
	if err == nil {
		return nil
	}
	var se *sr.ResponseError
	if errors.As(err, &se) {
		re := &RegistryError{Method: method, Path: path, StatusCode: se.StatusCode, ErrorCode: se.ErrorCode}
		if se.ErrorCode != 0 || len(se.Raw) > 0 && se.Raw[0] == '{' {
			re.Message = clipMessage(se.Message)
		}
		switch code := se.StatusCode; {
		case code >= 500, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
			return fmt.Errorf("%w: %w", ErrRegistryUnavailable, re)
		}
		return re
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", method, path, context.Cause(ctx))
	}
	if errors.Is(err, errTooLarge) {
		return fmt.Errorf("%s %s: %w", method, path, errTooLarge)
	}
	// pkg/sr's own errors quote the request URL: the base without
	// userinfo, plus path. Keep only the cause.
	cause := errors.Unwrap(err)
	var te tokenError
	switch {
	case errors.As(err, &te):
		cause = te
	case cause == nil:
		// Decoding errors are formatted with %w as well; a nil cause means
		// pkg/sr produced a plain message.
		cause = errors.New("request failed")
	}
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err // *url.Error repeats the URL
	}
	return fmt.Errorf("%w: %s %s: %w", ErrRegistryUnavailable, method, path, cause)
}

// tokenError is a failure of the bearer token source.
type tokenError struct{ err error }

func (e tokenError) Error() string { return "bearer token: " + e.err.Error() }
func (e tokenError) Unwrap() error { return e.err }

var errTooLarge = fmt.Errorf("response larger than %d bytes", maxResponse)

// limitTransport fails reading a response body larger than maxResponse.
type limitTransport struct{ inner http.RoundTripper }

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxResponse}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, errTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

func clipMessage(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
