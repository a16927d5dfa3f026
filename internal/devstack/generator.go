package devstack

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/floe-io/floe/internal/contract"
)

// payment schema versions, indexes into Generator.codecs.
const (
	verV1 = iota
	verV2
	verV3
	verBadV4
	numVersions
)

type merchant struct {
	id, currency string
}

// variantsOf lists each class's defect variants, used in turn.
func variantsOf(class string) []string {
	switch class {
	case ClassBadMagic:
		return []string{VariantBadMagic, VariantTooShort}
	case ClassUnknownSchema:
		return []string{VariantUnknownSchemaID}
	case ClassMalformedAvro:
		return []string{VariantTruncatedAvro}
	case ClassUnknownKey:
		return []string{VariantUnknownKeyID}
	case ClassDecryptFailed:
		return []string{VariantTamperedCiphertext, VariantWrongAAD, VariantWrongKey}
	case ClassBadPayload:
		return []string{VariantPayloadNotFramed, VariantPayloadTooShort}
	case ClassIncompatibleSchema:
		return []string{VariantIncompatible}
	}
	return nil
}

// Generator makes contract events. It is not safe for concurrent use; give
// each goroutine its own (with its own Prefix).
type Generator struct {
	opts GenOptions

	rng    *rand.Rand
	nonces *rand.ChaCha8 // nonce bytes, from the seed

	envCodec  *goavro.Codec
	codecs    [numVersions]*goavro.Codec
	schemaIDs [numVersions]uint32
	aeads     []cipher.AEAD // parallel to opts.KeyIDs
	stray     cipher.AEAD   // a key in no keyring, for wrong-key events

	merchants  []merchant
	vocab      vocabulary
	classes    []string
	variants   [][]string
	cumVersion [3]float64 // cumulative version shares, normalised
	invalidPPM uint64

	seq      uint64
	nInvalid uint64

	// scratch, reused between events
	envNative map[string]any
	payNative [numVersions]map[string]any
	unions    [4]map[string]any // channel, fee_bps int, fee_bps long, country
	plain     []byte
	nonce     [nonceLen]byte
	err       error
}

// NewGenerator validates opts and returns a generator.
func NewGenerator(opts GenOptions) (*Generator, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("devstack: generator options: %w", err)
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(opts.Seed))
	copy(seed[8:], "floe devstack generator")
	g := &Generator{
		opts:       opts,
		nonces:     rand.NewChaCha8(seed),
		rng:        rand.New(rand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15)),
		schemaIDs:  [numVersions]uint32{opts.IDs.V1, opts.IDs.V2, opts.IDs.V3, opts.IDs.BadV4},
		classes:    Classes(),
		vocab:      newVocabulary(),
		invalidPPM: uint64(opts.InvalidShare*1e6 + 0.5),
		envNative:  make(map[string]any, 5),
		unions: [4]map[string]any{
			{"string": nil}, {"int": nil}, {"long": nil}, {"string": nil},
		},
	}
	var err error
	if g.envCodec, err = goavro.NewCodec(contract.Envelope); err != nil {
		return nil, fmt.Errorf("devstack: envelope schema: %w", err)
	}
	for v, text := range [numVersions]string{contract.PaymentV1, contract.PaymentV2, contract.PaymentV3, contract.PaymentBadV4} {
		if g.codecs[v], err = amountAsBytesCodec(text); err != nil {
			return nil, fmt.Errorf("devstack: payment schema %d: %w", v, err)
		}
		g.payNative[v] = make(map[string]any, 8)
	}
	for _, id := range opts.KeyIDs {
		a, err := newAEAD(opts.Keys[id])
		if err != nil {
			return nil, fmt.Errorf("devstack: key %q: %w", id, err)
		}
		g.aeads = append(g.aeads, a)
	}
	strayKey := make([]byte, KeySize)
	g.nonces.Read(strayKey)
	if g.stray, err = newAEAD(strayKey); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	for _, c := range g.classes {
		g.variants = append(g.variants, variantsOf(c))
	}
	mix := opts.Versions
	total := mix.V1 + mix.V2 + mix.V3
	g.cumVersion = [3]float64{mix.V1 / total, (mix.V1 + mix.V2) / total, 1}

	// Merchants' home currencies come from a generator of their own, so
	// they depend on the seed and the merchant list only.
	mr := rand.New(rand.NewPCG(uint64(opts.Seed), 0x6d65726368616e74))
	g.merchants = make([]merchant, len(opts.MerchantIDs))
	for i, id := range opts.MerchantIDs {
		g.merchants[i] = merchant{id: id, currency: opts.Currencies[mr.IntN(len(opts.Currencies))]}
	}
	return g, nil
}

// HomeCurrency returns a merchant's home currency and whether the merchant
// is known.
func (g *Generator) HomeCurrency(merchantID string) (string, bool) {
	for _, m := range g.merchants {
		if m.id == merchantID {
			return m.currency, true
		}
	}
	return "", false
}

// MerchantIDs returns the generator's merchant ids.
func (g *Generator) MerchantIDs() []string { return slices.Clone(g.opts.MerchantIDs) }

// Count returns the number of events made so far.
func (g *Generator) Count() uint64 { return g.seq }

// Err returns the first encoding error, if any. Encoding the values the
// generator makes cannot fail; if it ever did, Next returns the zero Event
// from then on and Err says why.
func (g *Generator) Err() error { return g.err }

// Events returns the next n events.
func (g *Generator) Events(n int) []Event {
	out := make([]Event, 0, n)
	for range n {
		e := g.Next()
		if g.err != nil {
			break
		}
		out = append(out, e)
	}
	return out
}

// Take returns a function yielding the next n events (n < 0: no limit), the
// form ProduceStream wants.
func (g *Generator) Take(n int64) func() (Event, bool) {
	var made int64
	return func() (Event, bool) {
		if n >= 0 && made >= n {
			return Event{}, false
		}
		e := g.Next()
		if g.err != nil {
			return Event{}, false
		}
		made++
		return e, true
	}
}

// Next returns the next event.
func (g *Generator) Next() Event {
	if g.err != nil {
		return Event{}
	}
	e, err := g.next()
	if err != nil {
		g.err = fmt.Errorf("devstack: event %d: %w", g.seq-1, err)
		return Event{}
	}
	return e
}

func (g *Generator) next() (Event, error) {
	i := g.seq
	g.seq++
	class, variant := "", ""
	if g.invalidPPM > 0 && (i+1)*g.invalidPPM/1e6 > i*g.invalidPPM/1e6 {
		k := g.nInvalid
		g.nInvalid++
		ci := k % uint64(len(g.classes))
		vs := g.variants[ci]
		class, variant = g.classes[ci], vs[(k/uint64(len(g.classes)))%uint64(len(vs))]
	}

	row, ver, cents := g.row(i)
	e := Event{TransactionID: row.TransactionID, Class: class, Variant: variant}
	if class == ClassIncompatibleSchema {
		ver = verBadV4
	}
	ki := int(i % uint64(len(g.aeads)))
	aead := g.aeads[ki]
	e.KeyID = g.opts.KeyIDs[ki]

	// plaintext: framed payment
	pt, err := g.payment(row, ver, cents)
	if err != nil {
		return Event{}, err
	}
	e.PayloadSchemaID = g.schemaIDs[ver]
	switch variant {
	case VariantPayloadNotFramed:
		pt = pt[frameLen:] // a bare Avro body: its first byte, a zigzag length > 0, is not 0
		e.PayloadSchemaID = 0
	case VariantPayloadTooShort:
		pt = pt[:3]
		e.PayloadSchemaID = 0
	}

	// seal
	g.nonces.Read(g.nonce[:])
	aad := row.TransactionID
	switch variant {
	case VariantWrongAAD:
		aad += "-other"
	case VariantWrongKey:
		if len(g.aeads) > 1 {
			aead = g.aeads[(ki+1)%len(g.aeads)]
		} else {
			aead = g.stray
		}
	case VariantUnknownKeyID:
		e.KeyID = UnknownKeyID
	}
	payload := seal(aead, g.nonce[:], pt, []byte(aad))
	if variant == VariantTamperedCiphertext {
		payload[nonceLen] ^= 0x5a
	}

	// envelope
	env := g.envNative
	env["transaction_id"] = row.TransactionID
	env["event_time"] = row.EventTime.UnixMilli()
	env["source"] = row.Source
	env["key_id"] = e.KeyID
	env["payload"] = payload
	value := make([]byte, 0, frameLen+len(payload)+len(row.TransactionID)+len(row.Source)+len(e.KeyID)+24)
	value = appendFrame(value, g.opts.IDs.Envelope)
	if value, err = g.envCodec.BinaryFromNative(value, env); err != nil {
		return Event{}, fmt.Errorf("encode envelope: %w", err)
	}
	switch variant {
	case VariantBadMagic:
		value[0] = 1
	case VariantTooShort:
		value = value[:3:3]
	case VariantUnknownSchemaID:
		binary.BigEndian.PutUint32(value[1:frameLen], UnknownSchemaID)
	case VariantTruncatedAvro:
		value = value[:len(value)-10] // cuts into payload (>= 28 bytes), the last field
	}
	e.Key = []byte(row.TransactionID)
	e.Value = value
	if class == "" {
		e.Expect = row
	}
	return e, nil
}

// row draws the fields of event i.
func (g *Generator) row(i uint64) (r *Row, ver int, cents int64) {
	rng, vo := g.rng, &g.vocab
	r = &Row{TransactionID: g.txID(i)}
	if g.opts.Clock != nil {
		r.EventTime = g.opts.Clock().UTC().Truncate(time.Millisecond)
	} else {
		r.EventTime = g.opts.Start.Add(time.Duration(i) * g.opts.Step).UTC().Truncate(time.Millisecond)
	}
	r.Source = vo.sources[rng.IntN(len(vo.sources))]
	m := g.merchants[rng.IntN(len(g.merchants))]
	r.MerchantID = m.id
	r.Currency = m.currency
	if g.opts.ForeignShare > 0 && rng.Float64() < g.opts.ForeignShare {
		c := g.opts.Currencies[rng.IntN(len(g.opts.Currencies)-1)]
		if c == m.currency { // pick among the others
			c = g.opts.Currencies[len(g.opts.Currencies)-1]
		}
		r.Currency = c
	}
	cents = 1 + rng.Int64N(10_000_000) // 0.01 .. 100000.00
	r.Amount = formatCents(cents)
	r.UserID = userID(rng.IntN(100_000))
	r.Status = vo.statuses[rng.IntN(len(vo.statuses))]

	f := rng.Float64()
	switch {
	case f < g.cumVersion[0]:
		ver = verV1
	case f < g.cumVersion[1]:
		ver = verV2
	default:
		ver = verV3
	}
	if ver >= verV2 {
		if c := rng.IntN(len(vo.channels) + 1); c < len(vo.channels) {
			ch := vo.channels[c]
			r.Channel = &ch
		}
		if rng.IntN(5) > 0 {
			fee := int64(1 + rng.IntN(300))
			if ver == verV3 && rng.IntN(4) == 0 {
				fee += 3_000_000_000 // needs the widened long
			}
			r.FeeBps = &fee
		}
	}
	if ver == verV3 {
		if c := rng.IntN(len(vo.countries) + 1); c < len(vo.countries) {
			co := vo.countries[c]
			r.Country = &co
		}
	}
	return r, ver, cents
}

// payment encodes the framed payment of r with schema version ver into the
// scratch buffer.
func (g *Generator) payment(r *Row, ver int, cents int64) ([]byte, error) {
	p := g.payNative[ver]
	p["amount"] = decimalBytes(cents)
	p["user_id"] = r.UserID
	p["merchant_id"] = r.MerchantID
	p["status"] = r.Status
	if ver == verBadV4 {
		p["currency"] = int32(currencyNumber(r.Currency))
	} else {
		p["currency"] = r.Currency
	}
	// Unions reuse their maps: each is encoded before the next event.
	u := &g.unions
	if ver == verV2 || ver == verV3 {
		p["channel"] = nil
		if r.Channel != nil {
			u[0]["string"] = *r.Channel
			p["channel"] = u[0]
		}
		switch {
		case r.FeeBps == nil:
			p["fee_bps"] = nil
		case ver == verV2:
			u[1]["int"] = int32(*r.FeeBps)
			p["fee_bps"] = u[1]
		default:
			u[2]["long"] = *r.FeeBps
			p["fee_bps"] = u[2]
		}
	}
	if ver == verV3 {
		p["country"] = nil
		if r.Country != nil {
			u[3]["string"] = *r.Country
			p["country"] = u[3]
		}
	}
	buf := appendFrame(g.plain[:0], g.schemaIDs[ver])
	buf, err := g.codecs[ver].BinaryFromNative(buf, p)
	if err != nil {
		return nil, fmt.Errorf("encode payment v%d: %w", ver+1, err)
	}
	g.plain = buf
	return buf, nil
}
