package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	_ "github.com/apache/iceberg-go/io/gocloud/s3" // registers the s3:// FileIO
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// FileIO property keys floe sets for an S3 warehouse (iceberg-go's names).
const (
	PropS3Endpoint        = "s3.endpoint"
	PropS3Region          = "s3.region"
	PropS3AccessKeyID     = "s3.access-key-id"
	PropS3SecretAccessKey = "s3.secret-access-key"
	PropS3SessionToken    = "s3.session-token"
	// PropS3ForceVirtualAddressing = "true" uses bucket.host addressing even
	// with an endpoint override; the default with an endpoint is path-style.
	PropS3ForceVirtualAddressing = "s3.force-virtual-addressing"
)

// defaultS3Region is used when neither props nor the AWS environment name a
// region; S3-compatible servers (MinIO, versitygw) accept it.
const defaultS3Region = "us-east-1"

var (
	// ErrBucketNotFound means the warehouse bucket does not exist; floe
	// never creates buckets.
	ErrBucketNotFound = errors.New("warehouse bucket does not exist")
	// ErrAccessDenied means the credentials may not read or write the
	// warehouse.
	ErrAccessDenied = errors.New("access to the warehouse denied")
)

func isS3(location string) bool {
	scheme, _, ok := strings.Cut(location, "://")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case "s3", "s3a", "s3n":
		return true
	}

	return false
}

// CheckWarehouse verifies that the bucket of an s3://bucket/prefix
// warehouse exists and accepts writes, by HeadBucket and by writing and
// deleting a small probe object under prefix. It uses the same properties
// as the FileIO (s3.endpoint, s3.region, static keys) and otherwise the AWS
// standard credential chain. A missing bucket wraps ErrBucketNotFound, a
// 401/403 wraps ErrAccessDenied. Credentials never appear in the error.
func CheckWarehouse(ctx context.Context, warehouse string, props map[string]string) error {
	u, err := url.Parse(warehouse)
	if err != nil || u.Host == "" {
		return fmt.Errorf("warehouse %q: want s3://bucket/prefix", redact(warehouse))
	}
	bucket, prefix := u.Host, strings.Trim(u.Path, "/")
	client, err := newS3Client(ctx, props)
	if err != nil {
		return fmt.Errorf("warehouse %s: %w", redact(warehouse), err)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return classifyS3(warehouse, "bucket "+bucket, err)
	}

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("warehouse %s: probe name: %w", redact(warehouse), err)
	}
	key := ".floe-write-check-" + hex.EncodeToString(b[:])
	if prefix != "" {
		key = prefix + "/" + key
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("floe")),
	}); err != nil {
		return classifyS3(warehouse, "write a probe object", err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		return classifyS3(warehouse, "delete the probe object", err)
	}

	return nil
}

func newS3Client(ctx context.Context, props map[string]string) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if r := props[PropS3Region]; r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	key, secret := props[PropS3AccessKeyID], props[PropS3SecretAccessKey]
	if (key == "") != (secret == "") {
		return nil, fmt.Errorf("%s and %s must be set together", PropS3AccessKeyID, PropS3SecretAccessKey)
	}
	if key != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(key, secret, props[PropS3SessionToken])))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultS3Region
	}
	endpoint := props[PropS3Endpoint]
	virtual, _ := strconv.ParseBool(props[PropS3ForceVirtualAddressing])

	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = !virtual
		}
	}), nil
}

// classifyS3 wraps err with ErrBucketNotFound or ErrAccessDenied where the
// status or error code says so.
func classifyS3(warehouse, what string, err error) error {
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case status == http.StatusNotFound || code == "NoSuchBucket" || code == "NotFound":
		return fmt.Errorf("warehouse %s: %s: %w (floe does not create buckets; create it first): %w", redact(warehouse), what, ErrBucketNotFound, err)
	case status == http.StatusForbidden || status == http.StatusUnauthorized ||
		code == "AccessDenied" || code == "Forbidden" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch":
		return fmt.Errorf("warehouse %s: %s: %w (check the credentials and the bucket policy): %w", redact(warehouse), what, ErrAccessDenied, err)
	}

	return fmt.Errorf("warehouse %s: %s: %w", redact(warehouse), what, err)
}
