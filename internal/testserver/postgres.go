package testserver

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Postgres is a PostgreSQL server on 127.0.0.1 with trust authentication.
type Postgres struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	dbs  atomic.Int64

	pgctl func(args ...string) *exec.Cmd
	data  string
	start []string // pg_ctl arguments that start the server
}

// pgBinDir finds Debian's PostgreSQL binaries (the newest version) or any
// initdb on PATH.
func pgBinDir() (string, bool) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, true
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), true
	}

	return "", false
}

// StartPostgres initializes a cluster in a temporary directory and starts
// it on a free port; the server is stopped and the directory removed when t
// ends. initdb refuses to run as root, so as root the cluster belongs to
// the user nobody. The test is skipped only if the binaries are absent
// (and fails instead when CI is set).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, ok := pgBinDir()
	if !ok {
		if os.Getenv("CI") != "" {
			t.Fatal("PostgreSQL binaries not found, and CI is set: a test that needs them must not pass by skipping")
		}
		t.Skip("PostgreSQL binaries not found (apt-get install postgresql; .ci/run installs them)")
	}
	// Not t.TempDir: its parent is private to root and nobody must reach it.
	dir, err := os.MkdirTemp("", "floe-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	asUser := func(name string, args ...string) *exec.Cmd {
		return exec.Command(filepath.Join(bin, name), args...)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("PostgreSQL as root needs the user nobody: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, data, sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			t.Fatalf("PostgreSQL as root needs runuser: %v", err)
		}
		asUser = func(name string, args ...string) *exec.Cmd {
			return exec.Command(runuser, append([]string{"-u", "nobody", "--", filepath.Join(bin, name)}, args...)...)
		}
	}

	if out, err := asUser("initdb", "-D", data, "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", port, sock)
	p := &Postgres{Port: port, data: data,
		pgctl: func(args ...string) *exec.Cmd { return asUser("pg_ctl", args...) },
		start: []string{"-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"}}
	if out, err := p.pgctl(p.start...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		if out, err := p.pgctl("-D", data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil && p.running() {
			t.Errorf("pg_ctl stop: %v\n%s", err, out)
		}
	})

	return p
}

// Stop stops the server at once (pg_ctl -m immediate: clients see their
// connections dropped, as in a crash); Start brings it back on the same
// port with the same data.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if out, err := p.pgctl("-D", p.data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Start starts a server stopped by Stop.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if out, err := p.pgctl(p.start...).CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

func (p *Postgres) running() bool { return p.pgctl("-D", p.data, "status").Run() == nil }

// URI returns the connection URI of database db.
func (p *Postgres) URI(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

// NewDatabase creates a fresh database and returns its URI.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("floe_%d", p.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", p.URI("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}

	return p.URI(name)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	return l.Addr().(*net.TCPAddr).Port
}
