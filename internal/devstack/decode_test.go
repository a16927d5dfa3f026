package devstack_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/floe-io/floe/internal/devstack"
)

// testDecoder is a decoder written for these tests only, so the generator
// is checked against something other than itself or package schema. It
// fetches writer schemas over HTTP like a real consumer.
type testDecoder struct {
	registryURL string
	keys        map[string][]byte

	mu     sync.Mutex
	codecs map[uint32]*goavro.Codec
}

func newTestDecoder(registryURL string, keys map[string][]byte) *testDecoder {
	return &testDecoder{registryURL: registryURL, keys: keys, codecs: map[uint32]*goavro.Codec{}}
}

func (d *testDecoder) codec(ctx context.Context, id uint32) (*goavro.Codec, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.codecs[id]; ok {
		return c, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.registryURL+"/schemas/ids/"+strconv.FormatUint(uint64(id), 10), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("schema %d: HTTP %d", id, resp.StatusCode)
	}
	var body struct {
		Schema string `json:"schema"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	c, err := goavro.NewCodec(body.Schema)
	if err != nil {
		return nil, err
	}
	d.codecs[id] = c
	return c, nil
}

func parseFrame(b []byte) (uint32, []byte, error) {
	if len(b) < 5 || b[0] != 0 {
		return 0, nil, fmt.Errorf("not framed")
	}
	return binary.BigEndian.Uint32(b[1:5]), b[5:], nil
}

type decodedEnvelope struct {
	SchemaID      uint32
	TransactionID string
	EventTime     time.Time
	Source, KeyID string
	Payload       []byte
}

func (d *testDecoder) envelope(ctx context.Context, value []byte) (decodedEnvelope, error) {
	id, body, err := parseFrame(value)
	if err != nil {
		return decodedEnvelope{}, err
	}
	c, err := d.codec(ctx, id)
	if err != nil {
		return decodedEnvelope{}, err
	}
	native, rest, err := c.NativeFromBinary(body)
	if err != nil {
		return decodedEnvelope{}, err
	}
	if len(rest) != 0 {
		return decodedEnvelope{}, fmt.Errorf("%d trailing bytes", len(rest))
	}
	m := native.(map[string]any)
	return decodedEnvelope{
		SchemaID:      id,
		TransactionID: m["transaction_id"].(string),
		EventTime:     m["event_time"].(time.Time),
		Source:        m["source"].(string),
		KeyID:         m["key_id"].(string),
		Payload:       m["payload"].([]byte),
	}, nil
}

func (d *testDecoder) open(keyID string, payload, aad []byte) ([]byte, error) {
	key, ok := d.keys[keyID]
	if !ok {
		return nil, fmt.Errorf("no key %q", keyID)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(payload) < 12+16 {
		return nil, fmt.Errorf("payload too short")
	}
	return aead.Open(nil, payload[:12], payload[12:], aad)
}

// row decodes a valid value to the row it must become.
func (d *testDecoder) row(ctx context.Context, value []byte) (*devstack.Row, uint32, error) {
	env, err := d.envelope(ctx, value)
	if err != nil {
		return nil, 0, err
	}
	plain, err := d.open(env.KeyID, env.Payload, []byte(env.TransactionID))
	if err != nil {
		return nil, 0, err
	}
	id, body, err := parseFrame(plain)
	if err != nil {
		return nil, 0, err
	}
	c, err := d.codec(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	native, rest, err := c.NativeFromBinary(body)
	if err != nil {
		return nil, 0, err
	}
	if len(rest) != 0 {
		return nil, 0, fmt.Errorf("%d trailing payload bytes", len(rest))
	}
	m := native.(map[string]any)
	r := &devstack.Row{
		TransactionID: env.TransactionID,
		EventTime:     env.EventTime,
		Source:        env.Source,
		Amount:        m["amount"].(*big.Rat).FloatString(2),
		UserID:        m["user_id"].(string),
		MerchantID:    m["merchant_id"].(string),
		Status:        m["status"].(string),
	}
	cur, ok := m["currency"].(string)
	if !ok {
		return nil, 0, fmt.Errorf("currency is %T", m["currency"])
	}
	r.Currency = cur
	if u, ok := m["channel"].(map[string]any); ok {
		s := u["string"].(string)
		r.Channel = &s
	}
	if u, ok := m["fee_bps"].(map[string]any); ok {
		var f int64
		switch v := u["int"].(type) {
		case int32:
			f = int64(v)
		default:
			f = u["long"].(int64)
		}
		r.FeeBps = &f
	}
	if u, ok := m["country"].(map[string]any); ok {
		s := u["string"].(string)
		r.Country = &s
	}
	return r, id, nil
}
