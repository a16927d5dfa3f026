package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ContentType is the media type of the Schema Registry REST API.
const ContentType = "application/vnd.schemaregistry.v1+json"

// Register registers the contract schemas with the Schema Registry at
// registryURL, in the order of Entries, and returns their ids. On a fresh
// registry the ids are 1..5, those of testdata/contract/vectors.json.
// Registering again is harmless and returns the same ids.
//
// Because payment-bad-v4 is incompatible by design, the compatibility level
// of PaymentSubject is first set to NONE, so a real registry (whose default
// is BACKWARD) accepts it too. A nil client means http.DefaultClient.
func Register(ctx context.Context, registryURL string, client *http.Client) (IDs, error) {
	if client == nil {
		client = http.DefaultClient
	}
	base := strings.TrimRight(registryURL, "/")
	if base == "" {
		return IDs{}, fmt.Errorf("contract: empty registry URL")
	}
	if err := setCompatibility(ctx, client, base, PaymentSubject, "NONE"); err != nil {
		return IDs{}, err
	}
	entries := Entries()
	ids := make([]uint32, len(entries))
	for i, e := range entries {
		id, err := registerOne(ctx, client, base, e.Subject, e.Schema)
		if err != nil {
			return IDs{}, fmt.Errorf("contract: register %s under %s: %w", e.Name, e.Subject, err)
		}
		ids[i] = id
	}
	return IDs{Envelope: ids[0], V1: ids[1], V2: ids[2], V3: ids[3], BadV4: ids[4]}, nil
}

func registerOne(ctx context.Context, client *http.Client, base, subject, schema string) (uint32, error) {
	body, err := json.Marshal(struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}{schema, "AVRO"})
	if err != nil {
		return 0, err
	}
	var resp struct {
		ID int64 `json:"id"`
	}
	u := base + "/subjects/" + url.PathEscape(subject) + "/versions"
	if err := do(ctx, client, http.MethodPost, u, body, &resp); err != nil {
		return 0, err
	}
	if resp.ID <= 0 || resp.ID > 1<<31-1 {
		return 0, fmt.Errorf("registry answered id %d", resp.ID)
	}
	return uint32(resp.ID), nil
}

func setCompatibility(ctx context.Context, client *http.Client, base, subject, level string) error {
	body, err := json.Marshal(map[string]string{"compatibility": level})
	if err != nil {
		return err
	}
	u := base + "/config/" + url.PathEscape(subject)
	if err := do(ctx, client, http.MethodPut, u, body, nil); err != nil {
		return fmt.Errorf("contract: set compatibility of %s to %s: %w", subject, level, err)
	}
	return nil
}

func do(ctx context.Context, client *http.Client, method, u string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("Accept", ContentType)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, u, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, u, err)
	}
	return nil
}
