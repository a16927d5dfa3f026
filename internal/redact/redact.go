// Package redact keeps secrets out of logs and error messages. It works by
// rule (the password of a URL's user info, secret-looking query parameters,
// librdkafka properties that are secret by name or documentation) and, as a
// second line, by value: a Set remembers the secrets a process was given and
// replaces them wherever they appear in text written through it.
package redact

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Mask replaces a secret.
const Mask = "[redacted]"

// secretParam matches key=value pairs whose key names a secret: URL query
// parameters (?password=..., &X-Amz-Signature=...) and keyword/value
// connection strings (host=h password=p).
var secretParam = regexp.MustCompile(`(?i)((?:^|[?&;\s])[a-z0-9_.\-]*(?:password|passwd|passphrase|secret|token|credential|signature|apikey|api_key|api-key)[a-z0-9_.\-]*=)[^&#;\s]*`)

// URL returns s with the password of its user info and the values of
// secret-looking parameters replaced by Mask. The user name stays (it helps
// an operator and is not a secret). It never fails: s need not parse as a
// URL (a mistyped URL is exactly the one that ends up in an error message),
// and text that holds no URL comes back unchanged.
func URL(s string) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + 3
	}
	auth := s[start:]
	if end := strings.IndexAny(auth, "/?#"); end >= 0 {
		auth = auth[:end]
	}
	if at := strings.LastIndex(auth, "@"); at >= 0 {
		if colon := strings.Index(auth[:at], ":"); colon >= 0 {
			s = s[:start+colon+1] + Mask + s[start+at:]
		}
	}
	return secretParam.ReplaceAllString(s, "${1}"+Mask)
}

// kafkaSensitive are the librdkafka properties flagged _RK_SENSITIVE in
// librdkafka's rdkafka_conf.c ("might contain sensitive information"), plus
// the OAuth client secret and assertion key material, which are secrets by
// their documentation. sasl.username and ssl.key.location are flagged by
// librdkafka too: they are redacted in logs but are not secrets themselves.
var kafkaSensitive = map[string]bool{
	"sasl.username": true, "sasl.password": true, "sasl.oauthbearer.config": true,
	"sasl.oauthbearer.client.secret":                    true,
	"sasl.oauthbearer.assertion.private.key.pem":        true,
	"sasl.oauthbearer.assertion.private.key.passphrase": true,
	"ssl.key.location":                                  true, "ssl.key.password": true, "ssl.key.pem": true, "ssl_key": true,
	"ssl.keystore.password": true, "ssl.ca.pem": true,
}

// kafkaNotSecret are sensitive-flagged properties that are names or paths,
// not secrets: they may be given on a command line.
var kafkaNotSecret = map[string]bool{"sasl.username": true, "ssl.key.location": true, "ssl.ca.pem": true}

// KafkaSensitive reports whether the value of librdkafka property key must
// not be logged: librdkafka's own sensitive list, and any name that says
// password, passphrase, secret, token (but not a token endpoint URL) or a
// private key.
func KafkaSensitive(key string) bool {
	k := strings.ToLower(strings.TrimSpace(key))
	if kafkaSensitive[k] {
		return true
	}
	for _, w := range []string{"password", "passphrase", "secret", "private.key", "jaas"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return strings.Contains(k, "token") && !strings.HasSuffix(k, ".url")
}

// KafkaSecret reports whether property key holds a secret proper (a
// password, a private key, a client secret): such a value must not be
// given where other users of the machine can read it, like a command line.
func KafkaSecret(key string) bool {
	return KafkaSensitive(key) && !kafkaNotSecret[strings.ToLower(strings.TrimSpace(key))]
}

// KafkaProps renders librdkafka properties as sorted k=v pairs joined by
// ", ", sensitive values replaced by Mask and URLs redacted.
func KafkaProps(props map[string]string) string {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		v := URL(props[k])
		if KafkaSensitive(k) && v != "" {
			v = Mask
		}
		b.WriteString(k + "=" + v)
	}
	return b.String()
}

// minSecret is the shortest value a Set replaces: shorter ones would mangle
// ordinary words (the rules above still cover them where they apply).
const minSecret = 4

// Set holds secret values and replaces them in text. The zero value is
// ready; it is safe for concurrent use.
type Set struct {
	mu   sync.RWMutex
	vals []string // longest first, so a secret that contains another goes whole
}

// Add remembers secret values (empty and very short ones are ignored),
// also in the escaped forms text and JSON log handlers write them in.
func (s *Set) Add(vals ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []string
	for _, v := range vals {
		if len(v) < minSecret {
			continue
		}
		q := strconv.Quote(v)
		all = append(all, v, q[1:len(q)-1], jsonEscaped(v))
	}
	for _, v := range all {
		dup := false
		for _, have := range s.vals {
			dup = dup || have == v
		}
		if !dup {
			s.vals = append(s.vals, v)
		}
	}
	sort.Slice(s.vals, func(i, j int) bool { return len(s.vals[i]) > len(s.vals[j]) })
}

func jsonEscaped(v string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// AddURL remembers the password of a URL's user info.
func (s *Set) AddURL(u string) {
	start := 0
	if i := strings.Index(u, "://"); i >= 0 {
		start = i + 3
	}
	auth := u[start:]
	if end := strings.IndexAny(auth, "/?#"); end >= 0 {
		auth = auth[:end]
	}
	if at := strings.LastIndex(auth, "@"); at >= 0 {
		if _, pw, ok := strings.Cut(auth[:at], ":"); ok {
			s.Add(pw)
		}
	}
}

// String returns text with every remembered secret replaced by Mask.
func (s *Set) String(text string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.vals {
		text = strings.ReplaceAll(text, v, Mask)
	}
	return text
}

// Writer returns w behind the Set: each Write has the remembered secrets
// replaced. A secret split across two Writes is not seen, so write whole
// lines (log/slog handlers and fmt.Fprintf of a message do).
func (s *Set) Writer(w io.Writer) io.Writer { return &writer{s: s, w: w} }

type writer struct {
	s *Set
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	w.s.mu.RLock()
	hit := false
	for _, v := range w.s.vals {
		if bytes.Contains(p, []byte(v)) {
			hit = true
			break
		}
	}
	w.s.mu.RUnlock()
	if !hit {
		return w.w.Write(p)
	}
	if _, err := io.WriteString(w.w, w.s.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
