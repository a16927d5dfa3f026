package catalog

import (
	"context"
	"fmt"
	"maps"
	"net/url"

	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/glue"
	_ "github.com/apache/iceberg-go/catalog/rest" // registers catalog type "rest"
)

// openREST connects to an Iceberg REST catalog at uri. props carry the
// standard REST client properties (credential, token, oauth2-server-uri,
// scope, prefix, rest.sigv4-enabled, rest.signing-region,
// rest.signing-name) plus FileIO properties (s3.*) for the data files floe
// writes; the server's /v1/config may add or override FileIO properties.
// warehouse, if set, is sent to the server as its "warehouse" property; an
// s3:// warehouse's bucket is checked first.
func openREST(ctx context.Context, uri, warehouse string, props map[string]string) (icecatalog.Catalog, error) {
	p := make(iceberggo.Properties, len(props)+3)
	maps.Copy(p, props)
	p["type"] = string(icecatalog.REST)
	p["uri"] = uri
	if warehouse != "" {
		if isS3(warehouse) {
			if err := CheckWarehouse(ctx, warehouse, props); err != nil {
				return nil, err
			}
		}
		p["warehouse"] = warehouse
	}
	cat, err := icecatalog.Load(ctx, Name, p)
	if err != nil {
		return nil, fmt.Errorf("open REST catalog %s: %w", redact(uri), err)
	}

	return closerCatalog(cat), nil
}

// openGlue opens the AWS Glue Data Catalog. uri is glue:// with an optional
// catalog id as host (default: the caller's account) and optional query
// parameters region and endpoint; props may carry glue.* properties
// (glue.region, glue.endpoint, glue.id, glue.max-retries, glue.retry-mode)
// and s3.* for the FileIO. AWS credentials come from the standard chain
// (environment, shared config, IMDS/ECS/IRSA) or glue.access-key-id and
// glue.secret-access-key. Tables are created under warehouse, which must be
// s3://bucket/prefix (checked like any S3 warehouse).
func openGlue(ctx context.Context, uri, warehouse string, props map[string]string) (icecatalog.Catalog, error) {
	p, err := glueProps(uri, props)
	if err != nil {
		return nil, err
	}
	wh, err := prepareWarehouse(ctx, warehouse, props)
	if err != nil {
		return nil, err
	}
	p["warehouse"] = wh
	cat, err := icecatalog.Load(ctx, Name, p)
	if err != nil {
		return nil, fmt.Errorf("open Glue catalog %s: %w", redact(uri), err)
	}

	return closerCatalog(cat), nil
}

// glueProps maps glue://id?region=R&endpoint=URL onto Glue catalog
// properties; explicit glue.* entries in props win over the URI.
func glueProps(uri string, props map[string]string) (iceberggo.Properties, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrUnsupportedURI, redact(uri), err)
	}
	p := iceberggo.Properties{"type": string(icecatalog.Glue)}
	if u.Host != "" {
		p[glue.CatalogIdKey] = u.Host
	}
	q := u.Query()
	for key, prop := range map[string]string{"region": glue.Region, "endpoint": glue.Endpoint} {
		if v := q.Get(key); v != "" {
			p[prop] = v
		}
		q.Del(key)
	}
	if len(q) > 0 {
		return nil, fmt.Errorf("%w %s: glue:// takes only the query parameters region and endpoint", ErrUnsupportedURI, redact(uri))
	}
	maps.Copy(p, props)

	return p, nil
}

// closerCatalog makes sure the returned catalog implements io.Closer, as
// Open promises, whether or not iceberg-go's does.
func closerCatalog(cat icecatalog.Catalog) icecatalog.Catalog {
	if _, ok := cat.(interface{ Close() error }); ok {
		return cat
	}

	return nopCloser{cat}
}

type nopCloser struct{ icecatalog.Catalog }

func (nopCloser) Close() error { return nil }
