package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

const (
	contentType = "application/vnd.schemaregistry.v1+json"
	accept      = "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json"
	// maxResponse bounds how much of a registry response is read.
	maxResponse = 8 << 20
	// errorCodeSchemaNotFound is the registry's error_code for an unknown id.
	errorCodeSchemaNotFound = 40403
)

// Registry is a Confluent Schema Registry client over HTTP. It caches schemas
// by id forever (an id is immutable), compiles each once, and makes one
// request per id however many goroutines ask at once. It is safe for
// concurrent use.
type Registry struct {
	base string // scheme://host[:port][/path], no trailing slash, no userinfo
	cfg  registryConfig

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
// (e.g. "http://127.0.0.1:8081"). It does no I/O; see Ping.
func NewRegistry(baseURL string, opts ...RegistryOption) (*Registry, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("schema: registry URL: %w", err)
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
	return &Registry{
		base:     strings.TrimRight(u.String(), "/"),
		cfg:      cfg,
		cache:    map[uint32]cacheEntry{},
		inflight: map[uint32]*fetchCall{},
	}, nil
}

// Schema returns the compiled schema with the given id, from the cache or
// the registry. Errors wrap ErrUnknownSchema only when the registry says the
// id does not exist; ErrRegistryUnavailable when a retry may help;
// ErrInvalidSchema when the schema exists but cannot be used; or the
// context's error.
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

type schemaResponse struct {
	Schema     string            `json:"schema"`
	SchemaType string            `json:"schemaType"`
	References []json.RawMessage `json:"references"`
}

func (r *Registry) fetch(ctx context.Context, id uint32) (*Schema, error) {
	path := "/schemas/ids/" + strconv.FormatUint(uint64(id), 10)
	var resp schemaResponse
	err := r.do(ctx, http.MethodGet, path, nil, &resp)
	var re *RegistryError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound &&
		(re.ErrorCode == 0 || re.ErrorCode == errorCodeSchemaNotFound || re.ErrorCode == http.StatusNotFound) {
		return nil, fmt.Errorf("schema: %w: id %d: %w", ErrUnknownSchema, id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("schema: fetch schema %d: %w", id, err)
	}
	if resp.SchemaType != "" && resp.SchemaType != "AVRO" {
		return nil, fmt.Errorf("schema: %w: schema %d is %s, not AVRO", ErrInvalidSchema, id, resp.SchemaType)
	}
	if len(resp.References) > 0 {
		return nil, fmt.Errorf("schema: %w: schema %d uses references, which are not supported", ErrInvalidSchema, id)
	}
	s, err := Compile(id, resp.Schema)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return s, nil
}

// Register registers schemaJSON (an Avro schema) under subject and returns
// its id (POST /subjects/{subject}/versions). Registering a schema the
// subject already holds returns the existing id.
func (r *Registry) Register(ctx context.Context, subject, schemaJSON string) (uint32, error) {
	if subject == "" {
		return 0, errors.New("schema: register: empty subject")
	}
	body, err := json.Marshal(struct {
		Schema string `json:"schema"`
	}{schemaJSON})
	if err != nil {
		return 0, fmt.Errorf("schema: register %s: %w", subject, err)
	}
	var resp struct {
		ID *int64 `json:"id"`
	}
	if err := r.do(ctx, http.MethodPost, "/subjects/"+url.PathEscape(subject)+"/versions", body, &resp); err != nil {
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
	if err := r.do(ctx, http.MethodGet, "/subjects", nil, &subjects); err != nil {
		return fmt.Errorf("schema: ping registry: %w", err)
	}
	return nil
}

// do sends one request and decodes a 2xx JSON answer into out. Non-2xx
// answers are *RegistryError, wrapped with ErrRegistryUnavailable when
// retrying may help; transport failures are wrapped with
// ErrRegistryUnavailable unless the context ended.
func (r *Registry) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if r.cfg.auth {
		req.SetBasicAuth(r.cfg.user, r.cfg.password)
	}
	resp, err := r.cfg.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, context.Cause(ctx))
		}
		return fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, context.Cause(ctx))
		}
		return fmt.Errorf("%w: %s %s: reading response: %w", ErrRegistryUnavailable, method, path, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("%s %s: response larger than %d bytes", method, path, maxResponse)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		re := &RegistryError{Method: method, Path: path, StatusCode: resp.StatusCode}
		var eb struct {
			ErrorCode int    `json:"error_code"`
			Message   string `json:"message"`
		}
		if json.Unmarshal(data, &eb) == nil {
			re.ErrorCode, re.Message = eb.ErrorCode, clipMessage(eb.Message)
		}
		switch code := resp.StatusCode; {
		case code >= 500, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
			return fmt.Errorf("%w: %w", ErrRegistryUnavailable, re)
		}
		return re
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %s %s: undecodable response: %w", ErrRegistryUnavailable, method, path, err)
	}
	return nil
}

func clipMessage(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
