// Package fileio makes a file:// location mean the file whose path is the
// location's text after "file://", taken literally, as Hadoop's Path (Spark,
// Flink, Hive), Trino and Java Iceberg's HadoopFileIO read it. iceberg-go's
// own LocalFS percent-decodes file:// locations instead, so a data file whose
// partition path holds an escaped value ("merchant_id=a%3Db") landed in the
// decoded directory ("merchant_id=a=b") where no other reader looks for it.
//
// Importing the package (floe's catalog and iceberg packages do) replaces
// iceberg-go's handler of the "file" scheme with [FS], for every table the
// process opens. Files written by the old handler, at the decoded path, are
// still read: a read whose literal path does not exist falls back to the
// decoded one ([LegacyLocation]). Writes, removes and listings are literal
// only, so nothing is ever written to or removed from a decoded path.
package fileio

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	icebergio "github.com/apache/iceberg-go/io"
)

func init() {
	icebergio.Unregister("file")
	icebergio.Register("file", func(context.Context, *url.URL, map[string]string) (icebergio.IO, error) {
		return FS{}, nil
	})
}

// FS is iceberg-go's IO for file:// locations (and plain paths), mapping
// each location to its literal path. With Strict, reads do not fall back to
// the legacy decoded path (floe doctor uses that to find misplaced files).
type FS struct {
	Strict bool
}

var (
	_ icebergio.ReadFileIO        = FS{}
	_ icebergio.WriteFileIO       = FS{}
	_ icebergio.ListableIO        = FS{}
	_ icebergio.StatIO            = FS{}
	_ icebergio.RenameIO          = FS{}
	_ icebergio.RenameNoReplaceIO = FS{}
	_ icebergio.RemoveAllIO       = FS{}
)

// LocalPath is the file a file:// location (or a plain path) names: the
// text after "file://" (or "file://localhost", or Hadoop's "file:"), with
// no decoding of any kind. ok is false for other schemes and for a file
// URI naming another host.
func LocalPath(location string) (path string, ok bool) {
	scheme, rest, hasScheme := cutScheme(location)
	if !hasScheme {
		return location, true
	}
	if !strings.EqualFold(scheme, "file") {
		return "", false
	}
	if r, ok := strings.CutPrefix(rest, "//"); ok {
		// file://host/path: only the local host.
		if r, ok := strings.CutPrefix(r, "localhost"); ok && (r == "" || r[0] == '/') {
			return r, r != ""
		}
		return r, strings.HasPrefix(r, "/")
	}
	// file:/path (Hadoop's form).
	return rest, strings.HasPrefix(rest, "/")
}

// cutScheme splits "scheme:rest" when the text before the first ':' is a
// URI scheme (letters first, then letters, digits, + - .) of two or more
// characters (one letter would be a Windows drive).
func cutScheme(s string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i < 2 {
		return "", s, false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return "", s, false
		}
	}
	return s[:i], s[i+1:], true
}

// LegacyLocation is where iceberg-go's LocalFS (and a URL-decoding S3
// client) put the file of location: the same location with its path
// percent-decoded and a query or fragment cut off. ok is false when that is
// the location itself or the location cannot be decoded.
func LegacyLocation(location string) (legacy string, ok bool) {
	scheme, rest, hasScheme := cutScheme(location)
	if !hasScheme || !strings.HasPrefix(rest, "//") {
		return "", false
	}
	u, err := url.Parse(location)
	if err != nil || u.Opaque != "" {
		return "", false
	}
	// What iceberg-go's decoding parse yields: host kept, path decoded.
	legacy = scheme + "://" + u.Host + u.Path
	if u.Path == "" || legacy == location {
		return "", false
	}
	return legacy, true
}

func (f FS) path(location string) (string, error) {
	p, ok := LocalPath(location)
	if !ok {
		return "", fmt.Errorf("%q is not a local file location", location)
	}
	return filepath.FromSlash(p), nil
}

// legacy is the decoded path of location, when reads may fall back to it.
func (f FS) legacy(location string) (string, bool) {
	if f.Strict {
		return "", false
	}
	l, ok := LegacyLocation(location)
	if !ok {
		return "", false
	}
	p, ok := LocalPath(l)
	return filepath.FromSlash(p), ok
}

// read runs op on location's literal path, and on its legacy path when the
// literal one does not exist.
func read[T any](f FS, location string, op func(string) (T, error)) (T, error) {
	p, err := f.path(location)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := op(p)
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		if lp, ok := f.legacy(location); ok {
			if lv, lerr := op(lp); lerr == nil {
				return lv, nil
			}
		}
	}
	return v, err
}

func (f FS) Open(name string) (icebergio.File, error) {
	return read(f, name, func(p string) (icebergio.File, error) {
		file, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		return file, nil
	})
}

func (f FS) ReadFile(name string) ([]byte, error) {
	return read(f, name, os.ReadFile)
}

func (f FS) Stat(name string) (fs.FileInfo, error) {
	return read(f, name, os.Stat)
}

func (f FS) Create(name string) (icebergio.FileWriter, error) {
	p, err := f.path(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return os.Create(p)
}

func (f FS) WriteFile(name string, content []byte) error {
	p, err := f.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, content, 0o644)
}

// Remove removes the literal path only: a file that is not there is not
// looked for at its decoded path, which may hold another, live, file.
func (f FS) Remove(name string) error {
	p, err := f.path(name)
	if err != nil {
		return err
	}
	return os.Remove(p)
}

func (f FS) RemoveAll(name string) error {
	p, err := f.path(name)
	if err != nil {
		return err
	}
	return os.RemoveAll(p)
}

// WalkDir walks the literal path of root. The paths it passes to fn are
// locations: for a file:// root, "file://" followed by the literal path, so
// that what it lists compares with (and can be handed back as) the
// locations in table metadata.
func (f FS) WalkDir(root string, fn fs.WalkDirFunc) error {
	p, err := f.path(root)
	if err != nil {
		return err
	}
	_, _, uri := cutScheme(root)
	return filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if uri {
			path = "file://" + filepath.ToSlash(path)
		}
		return fn(path, d, err)
	})
}

func (f FS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := f.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadDir(p)
}

func (f FS) MkdirAll(name string) error {
	p, err := f.path(name)
	if err != nil {
		return err
	}
	return os.MkdirAll(p, 0o755)
}

func (f FS) Rename(oldpath, newpath string) error {
	src, err := f.path(oldpath)
	if err != nil {
		return err
	}
	dst, err := f.path(newpath)
	if err != nil {
		return err
	}
	return os.Rename(src, dst)
}

// RenameNoReplace links newpath to oldpath's file (failing when newpath
// exists), then removes oldpath, as iceberg-go's LocalFS does.
func (f FS) RenameNoReplace(oldpath, newpath string) error {
	src, err := f.path(oldpath)
	if err != nil {
		return err
	}
	dst, err := f.path(newpath)
	if err != nil {
		return err
	}
	if err := os.Link(src, dst); err != nil {
		return err
	}
	_ = os.Remove(src)
	return nil
}
