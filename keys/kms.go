package keys

import (
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// ErrUnwrapFailed means KMS did not return a usable data key for a wrapped
// key: access denied, a disabled or wrong KMS key, a corrupted blob, or a
// plaintext that is not 32 bytes. Errors wrapping it name the key id and the
// KMS error, never key bytes.
var ErrUnwrapFailed = errors.New("unwrapping a data key with KMS failed")

// kmsFile is the JSON shape of a KMS-wrapped keyring file:
//
//	{
//	  "kms": {
//	    "region": "eu-west-1",
//	    "endpoint": "https://vpce-0123-abcd.kms.eu-west-1.vpce.amazonaws.com",
//	    "key_id": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-...",
//	    "encryption_context": {"purpose": "floe-payments"}
//	  },
//	  "wrapped_keys": {"k1": "<base64 CiphertextBlob>", "k2": "..."}
//	}
//
// Only wrapped_keys is required.
type kmsFile struct {
	KMS         kmsSettings       `json:"kms"`
	WrappedKeys map[string]string `json:"wrapped_keys"`
}

type kmsSettings struct {
	// Region of the KMS key; default: the AWS configuration's region.
	Region string `json:"region"`
	// Endpoint overrides the KMS endpoint URL (VPC endpoint, FIPS, a
	// local server).
	Endpoint string `json:"endpoint"`
	// KeyID, when set, is passed to every Decrypt: a data key wrapped by
	// any other KMS key is refused by KMS (IncorrectKeyException).
	KeyID string `json:"key_id"`
	// EncryptionContext is passed to every Decrypt; it must equal the one
	// the keys were wrapped with.
	EncryptionContext map[string]string `json:"encryption_context"`
}

// LoadKMSFile reads a keyring file of data keys wrapped by AWS KMS (see the
// package documentation for the format), unwraps each with one kms.Decrypt
// call and returns a keyring holding them. The plaintext data keys live only
// in the keyring's AEADs, in memory; they are never written or logged.
//
// The KMS client uses the standard AWS credential chain unless
// [WithAWSConfig] or [WithKMSClient] says otherwise; [WithRegion] and
// [WithEndpoint] override the file. Every key that cannot be unwrapped is
// reported, each error naming the file and the key id and wrapping
// [ErrUnwrapFailed].
func LoadKMSFile(ctx context.Context, path string, opts ...Option) (*Keyring, error) {
	cfg := newConfig(opts)
	src := &fileSource{path: path, cfg: &cfg}
	aeads, f, err := src.load(ctx)
	if err != nil {
		return nil, err
	}
	if f != formatKMS {
		return nil, fmt.Errorf("keys: keyring %s: not a KMS keyring file (no \"wrapped_keys\")", path)
	}
	return &Keyring{aeads: aeads}, nil
}

// parseKMSFile decodes a KMS keyring file. Like parseKeyFile it never quotes
// the JSON text.
func parseKMSFile(raw []byte) (*kmsFile, error) {
	var kf kmsFile
	if err := json.Unmarshal(raw, &kf); err != nil {
		return nil, jsonError(err)
	}
	if len(kf.WrappedKeys) == 0 {
		return nil, errors.New(`no keys: want {"wrapped_keys": {"<key id>": "<base64 KMS ciphertext blob>"}}`)
	}
	return &kf, nil
}

// cachedKey is an unwrapped data key kept across reloads, so that a reload
// calls KMS only for keys that are new or changed.
type cachedKey struct {
	sum  [sha256.Size]byte // of the blob and the Decrypt parameters
	aead cipher.AEAD
}

// kmsClientFor returns the client to call for the file's settings, building
// (and keeping) one when needed.
func (s *fileSource) kmsClientFor(ctx context.Context, ks kmsSettings) (KMSDecrypter, error) {
	if s.cfg.client != nil {
		return s.cfg.client, nil
	}
	region, endpoint := ks.Region, ks.Endpoint
	if s.cfg.region != "" {
		region = s.cfg.region
	}
	if s.cfg.endpoint != "" {
		endpoint = s.cfg.endpoint
	}
	if s.client != nil && s.clientRegion == region && s.clientEndpoint == endpoint {
		return s.client, nil
	}
	var awsCfg aws.Config
	if s.cfg.awsConfig != nil {
		awsCfg = s.cfg.awsConfig.Copy()
	} else {
		var err error
		if awsCfg, err = awsconfig.LoadDefaultConfig(ctx); err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
	}
	if region != "" {
		awsCfg.Region = region
	}
	if awsCfg.Region == "" {
		return nil, errors.New(`no AWS region: set "kms": {"region": ...} in the file, AWS_REGION, or the region option`)
	}
	client := kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	s.client, s.clientRegion, s.clientEndpoint = client, region, endpoint
	return client, nil
}

// unwrapAll returns one AEAD per wrapped key, calling KMS for the keys not
// already in the cache, and replaces the cache with the result.
func (s *fileSource) unwrapAll(ctx context.Context, kf *kmsFile) (map[string]cipher.AEAD, error) {
	var client KMSDecrypter
	aeads := make(map[string]cipher.AEAD, len(kf.WrappedKeys))
	cache := make(map[string]cachedKey, len(kf.WrappedKeys))
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(kf.WrappedKeys)) {
		if id == "" {
			errs = append(errs, errors.New("empty key id"))
			continue
		}
		blob, err := base64.StdEncoding.DecodeString(kf.WrappedKeys[id])
		if err != nil || len(blob) == 0 {
			errs = append(errs, fmt.Errorf("key %q: wrapped key is not valid standard base64", clip(id)))
			continue
		}
		sum := decryptSum(blob, kf.KMS)
		if c, ok := s.cache[id]; ok && c.sum == sum {
			aeads[id], cache[id] = c.aead, c
			continue
		}
		if client == nil {
			if client, err = s.kmsClientFor(ctx, kf.KMS); err != nil {
				return nil, err
			}
		}
		aead, err := unwrap(ctx, client, kf.KMS, blob)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %q: %w", clip(id), err))
			continue
		}
		aeads[id], cache[id] = aead, cachedKey{sum: sum, aead: aead}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.cache = cache
	return aeads, nil
}

// unwrap calls KMS Decrypt for one blob and builds its AEAD; the plaintext
// key is wiped before returning.
func unwrap(ctx context.Context, client KMSDecrypter, ks kmsSettings, blob []byte) (cipher.AEAD, error) {
	in := &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ks.EncryptionContext}
	if ks.KeyID != "" {
		in.KeyId = aws.String(ks.KeyID)
	}
	out, err := client.Decrypt(ctx, in)
	if err != nil {
		// The SDK's message names the operation, the HTTP status, the
		// request id and the KMS error code and text; KMS never echoes
		// ciphertext or plaintext.
		return nil, fmt.Errorf("%w: %w", ErrUnwrapFailed, err)
	}
	defer clear(out.Plaintext)
	aead, err := newAEAD(out.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("%w: unwrapped %w", ErrUnwrapFailed, err)
	}
	return aead, nil
}

// decryptSum identifies a Decrypt call's inputs, for the cache.
func decryptSum(blob []byte, ks kmsSettings) [sha256.Size]byte {
	h := sha256.New()
	h.Write(blob)
	fmt.Fprintf(h, "\x00%q", ks.KeyID)
	for _, k := range slices.Sorted(maps.Keys(ks.EncryptionContext)) {
		fmt.Fprintf(h, "\x00%q=%q", k, ks.EncryptionContext[k])
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
