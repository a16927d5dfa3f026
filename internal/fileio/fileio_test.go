package fileio_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	icebergio "github.com/apache/iceberg-go/io"

	"github.com/floe-io/floe/internal/fileio"
)

func TestLocalPath(t *testing.T) {
	for _, c := range []struct {
		loc, want string
		ok        bool
	}{
		{"file:///wh/t/data/merchant_id=a%3Db/f.parquet", "/wh/t/data/merchant_id=a%3Db/f.parquet", true},
		{"file://localhost/wh/a%20b", "/wh/a%20b", true},
		{"file:/wh/a+b?#", "/wh/a+b?#", true},
		{"/plain/a%3D", "/plain/a%3D", true},
		{"relative/x", "relative/x", true},
		{"file://otherhost/x", "", false},
		{"s3://bucket/key", "", false},
	} {
		got, ok := fileio.LocalPath(c.loc)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("LocalPath(%q) = %q, %v; want %q, %v", c.loc, got, ok, c.want, c.ok)
		}
	}
}

func TestLegacyLocation(t *testing.T) {
	for _, c := range []struct {
		loc, want string
		ok        bool
	}{
		{"file:///wh/merchant_id=m%3D1%26y%252F/f.parquet", "file:///wh/merchant_id=m=1&y%2F/f.parquet", true},
		{"s3://b/wh/merchant_id=%E5%95%86/f", "s3://b/wh/merchant_id=商/f", true},
		{"file:///wh/merchant_id=plain/f.parquet", "", false},
		{"file:///wh/merchant_id=a+b/f.parquet", "", false}, // '+' is not decoded in a path
		{"/plain/a%3D", "", false},
	} {
		got, ok := fileio.LegacyLocation(c.loc)
		if ok != c.ok || got != c.want {
			t.Errorf("LegacyLocation(%q) = %q, %v; want %q, %v", c.loc, got, ok, c.want, c.ok)
		}
	}
}

// TestFSLiteral writes through the IO iceberg-go picks for a file://
// location and checks the bytes are at the literal path, that reads fall
// back to a file at the decoded path, and that removal never does.
func TestFSLiteral(t *testing.T) {
	dir := t.TempDir()
	loc := "file://" + filepath.ToSlash(dir) + "/data/merchant_id=m%3D1%26y%252F?#/f.parquet"
	fsys, err := icebergio.LoadFS(t.Context(), nil, loc)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fsys.(fileio.FS); !ok {
		t.Fatalf("iceberg-go's IO for file:// is %T, want fileio.FS", fsys)
	}
	if err := fsys.(icebergio.WriteFileIO).WriteFile(loc, []byte("x")); err != nil {
		t.Fatal(err)
	}
	literal := filepath.Join(dir, "data", "merchant_id=m%3D1%26y%252F?#", "f.parquet")
	if b, err := os.ReadFile(literal); err != nil || string(b) != "x" {
		t.Fatalf("bytes not at the literal path %s: %q %v", literal, b, err)
	}
	var walked []string
	if err := fsys.(icebergio.ListableIO).WalkDir("file://"+filepath.ToSlash(dir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			walked = append(walked, p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(walked) != 1 || walked[0] != loc {
		t.Errorf("WalkDir listed %q, want [%q]", walked, loc)
	}

	// An old file at the decoded path is read, not removed, and not seen
	// by a strict FS.
	old := "file://" + filepath.ToSlash(dir) + "/data/merchant_id=old%3D1/g.parquet"
	decoded := filepath.Join(dir, "data", "merchant_id=old=1", "g.parquet")
	if err := os.MkdirAll(filepath.Dir(decoded), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(decoded, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := fsys.(icebergio.ReadFileIO).ReadFile(old); err != nil || string(b) != "old" {
		t.Errorf("legacy file not read: %q %v", b, err)
	}
	f, err := fsys.Open(old)
	if err != nil {
		t.Errorf("legacy file not opened: %v", err)
	} else {
		f.Close()
	}
	if _, err := (fileio.FS{Strict: true}).Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("strict Stat of a misplaced file: %v, want not-exist", err)
	}
	if err := fsys.Remove(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove of the literal path: %v, want not-exist", err)
	}
	if _, err := os.Stat(decoded); err != nil {
		t.Errorf("Remove fell back to the decoded path: %v", err)
	}
	var names []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	if len(names) != 2 {
		t.Errorf("files on disk: %q", names)
	}
}
