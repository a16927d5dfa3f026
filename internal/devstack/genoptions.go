package devstack

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/floe-io/floe/internal/contract"
)

// VersionMix is the share of valid events written with each payment
// schema version. Shares are relative; they need not sum to 1.
type VersionMix struct {
	V1, V2, V3 float64
}

// GenOptions configure NewGenerator. Keys is required.
type GenOptions struct {
	// Seed makes the generator deterministic: same options, same events.
	Seed int64
	// Prefix of transaction ids, which are Prefix + a 9-digit sequence
	// number. Default "tx-". Give generators writing to one topic different
	// prefixes so their ids do not collide.
	Prefix string

	// Merchants is the number of merchants, with ids "m-0001"...
	// Default 40. Ignored if MerchantIDs is set.
	Merchants int
	// MerchantIDs, if set, are the merchant ids, any UTF-8.
	MerchantIDs []string
	// ExoticMerchants replaces the first merchant ids with ones holding
	// '/', ' ', '=', '%', '?', '#' and non-ASCII letters (see
	// ExoticMerchantIDs), to test partition paths.
	ExoticMerchants bool
	// Currencies each merchant's home currency is picked from.
	// Default USD EUR GBP JPY SGD VND AUD INR.
	Currencies []string
	// ForeignShare is the share of events in a currency other than the
	// merchant's home one. 0 means 0.05; negative means none.
	ForeignShare float64

	// Keys is the keyring, key id -> 32-byte key. It must not hold
	// UnknownKeyID.
	Keys map[string][]byte
	// KeyIDs are the keys events are sealed with, in turn. Default all of
	// Keys, sorted.
	KeyIDs []string
	// IDs are the registry ids of the contract schemas. The zero value means
	// those of a fresh registry: 1..5.
	IDs contract.IDs

	// Versions is the mix of payment schema versions. The zero value means
	// V1 0.5, V2 0.3, V3 0.2.
	Versions VersionMix
	// InvalidShare is the share of invalid events, in [0, 1], spread evenly
	// over the seven classes (and their variants) in turn: exactly
	// floor(n*InvalidShare) of the first n events are invalid.
	InvalidShare float64

	// Start is the event_time of the first event; default
	// 2025-11-21T00:00:00Z. Each next event is Step later (default 1s).
	Start time.Time
	Step  time.Duration
	// Clock, if set, gives event times instead of Start and Step (for
	// demos measuring lag); events are then not reproducible.
	Clock func() time.Time
}

// ExoticMerchantIDs returns merchant ids that need escaping in paths,
// URLs or Hive-style partition directories.
func ExoticMerchantIDs() []string {
	return []string{
		"m/0001",
		"m 0002",
		"m=0003",
		"m%0004",
		"m?x#0005",
		"商户-0006",
		"Müller & Söhne",
		"café-☕",
	}
}

func (o *GenOptions) ensureDefaults() {
	if o.Prefix == "" {
		o.Prefix = "tx-"
	}
	if len(o.MerchantIDs) == 0 {
		n := o.Merchants
		if n <= 0 {
			n = 40
		}
		o.MerchantIDs = make([]string, n)
		for i := range o.MerchantIDs {
			o.MerchantIDs[i] = fmt.Sprintf("m-%04d", i+1)
		}
	} else {
		o.MerchantIDs = slices.Clone(o.MerchantIDs)
	}
	if o.ExoticMerchants {
		copy(o.MerchantIDs, ExoticMerchantIDs())
	}
	if len(o.Currencies) == 0 {
		o.Currencies = []string{"USD", "EUR", "GBP", "JPY", "SGD", "VND", "AUD", "INR"}
	}
	if o.ForeignShare == 0 {
		o.ForeignShare = 0.05
	}
	if len(o.KeyIDs) == 0 {
		for id := range o.Keys {
			o.KeyIDs = append(o.KeyIDs, id)
		}
		slices.Sort(o.KeyIDs)
	}
	if o.IDs == (contract.IDs{}) {
		o.IDs = contract.IDs{Envelope: 1, V1: 2, V2: 3, V3: 4, BadV4: 5}
	}
	if o.Versions == (VersionMix{}) {
		o.Versions = VersionMix{V1: 0.5, V2: 0.3, V3: 0.2}
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2025, 11, 21, 0, 0, 0, 0, time.UTC)
	}
	if o.Step == 0 {
		o.Step = time.Second
	}
}

func (o *GenOptions) validate() error {
	var errs []error
	if len(o.Keys) == 0 {
		errs = append(errs, errors.New("no keys"))
	}
	if _, ok := o.Keys[UnknownKeyID]; ok {
		errs = append(errs, fmt.Errorf("keyring holds %q, the key id of unknown_key events", UnknownKeyID))
	}
	for _, id := range o.KeyIDs {
		if k, ok := o.Keys[id]; !ok {
			errs = append(errs, fmt.Errorf("key id %q not in keyring", id))
		} else if len(k) != KeySize {
			errs = append(errs, fmt.Errorf("key %q is %d bytes, want %d", id, len(k), KeySize))
		}
	}
	for _, id := range []uint32{o.IDs.Envelope, o.IDs.V1, o.IDs.V2, o.IDs.V3, o.IDs.BadV4} {
		if id == 0 || id == UnknownSchemaID {
			errs = append(errs, fmt.Errorf("schema ids %+v: each must be set and not %d", o.IDs, UnknownSchemaID))
			break
		}
	}
	if v := o.Versions; v.V1 < 0 || v.V2 < 0 || v.V3 < 0 || v.V1+v.V2+v.V3 <= 0 {
		errs = append(errs, fmt.Errorf("version mix %+v: shares must be >= 0 and not all 0", v))
	}
	if !(o.InvalidShare >= 0 && o.InvalidShare <= 1) {
		errs = append(errs, fmt.Errorf("invalid share %v not in [0, 1]", o.InvalidShare))
	}
	if o.ForeignShare > 1 {
		errs = append(errs, fmt.Errorf("foreign share %v > 1", o.ForeignShare))
	}
	if o.ForeignShare > 0 && len(o.Currencies) < 2 {
		errs = append(errs, errors.New("a foreign share needs at least two currencies"))
	}
	if o.Step < 0 {
		errs = append(errs, fmt.Errorf("step %v < 0", o.Step))
	}
	return errors.Join(errs...)
}
