package store

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// failingReader yields some bytes, then fails: an interrupted Put.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("etcd went away")
	}
	f.n--
	return copy(p, "partial data"), nil
}

func TestFilePutIsInvisibleUntilComplete(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "file://"+t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "c/a.db", &failingReader{n: 3}); err == nil || !strings.Contains(err.Error(), "etcd went away") {
		t.Fatalf("failed Put err = %v", err)
	}
	if objs, _ := s.List(ctx, ""); len(objs) != 0 {
		t.Fatalf("a failed Put left %v visible", objs)
	}
	if _, err := s.Stat(ctx, "c/a.db"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat after failed Put = %v, want ErrNotFound", err)
	}
	n, err := s.Put(ctx, "c/a.db", strings.NewReader("complete"))
	if err != nil || n != 8 {
		t.Fatalf("Put = %d, %v", n, err)
	}
	rc, err := s.Get(ctx, "c/a.db")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "complete" {
		t.Fatalf("Get = %q", b)
	}
	if err := s.Delete(ctx, "c/a.db"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "c/a.db"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
}

// A writer killed mid-Put leaves only a .partial file: List never shows it
// and CleanupIncomplete removes it once it is old enough.
func TestFileCleanupIncompleteRemovesOnlyStalePartials(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "c", "old.db.zst"+partialSuffix)
	fresh := filepath.Join(dir, "c", "new.db.zst"+partialSuffix)
	if err := os.MkdirAll(filepath.Dir(stale), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if objs, _ := s.List(ctx, "c/"); len(objs) != 0 {
		t.Fatalf("partials listed: %v", objs)
	}
	n, err := s.CleanupIncomplete(ctx, time.Now().Add(-time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("CleanupIncomplete = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("stale partial survived")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatal("a partial newer than the cutoff (an upload in flight) was removed")
	}
}

func TestFileRefusesKeysThatEscapeAndBadURLs(t *testing.T) {
	ctx := context.Background()
	s, err := NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "../outside", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "escapes the store") {
		t.Fatalf("escaping key err = %v", err)
	}
	for url, want := range map[string]string{
		"file://host/dir":  "file URLs take an absolute path",
		"ftp://x/y":        "scheme must be s3:// or file://",
		"file:relative/ok": "path must be absolute",
	} {
		if _, err := Open(ctx, url, Options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) err = %v, want %q", url, err, want)
		}
	}
}

// ListDir lists a directory's objects, not those in its subdirectories
// nor partial files; List walks only the prefix's directory; an empty or
// missing directory lists empty, a store whose directory is gone fails.
func TestFileListDirAndList(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"c/b.json", "c/a.db.zst", "c/a.deltas/000001-r1-r2.json", "c/a.deltas/000001-r1-r2.events.zst", "d/x.json", "top.json"} {
		if _, err := st.Put(ctx, k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "c", "z.json.partial"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := func(objs []Object, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, o := range objs {
			if o.Size != int64(len(o.Key)) {
				t.Fatalf("%s: size %d", o.Key, o.Size)
			}
			ks = append(ks, o.Key)
		}
		return strings.Join(ks, " ")
	}
	for _, c := range []struct{ got, want string }{
		{keys(st.ListDir(ctx, "c/")), "c/a.db.zst c/b.json"},
		{keys(st.ListDir(ctx, "")), "top.json"},
		{keys(st.ListDir(ctx, "none/")), ""},
		{keys(st.List(ctx, "c/a")), "c/a.db.zst c/a.deltas/000001-r1-r2.events.zst c/a.deltas/000001-r1-r2.json"},
		{keys(st.List(ctx, "c/a.deltas/")), "c/a.deltas/000001-r1-r2.events.zst c/a.deltas/000001-r1-r2.json"},
		{keys(st.List(ctx, "")), "c/a.db.zst c/a.deltas/000001-r1-r2.events.zst c/a.deltas/000001-r1-r2.json c/b.json d/x.json top.json"},
		{keys(st.List(ctx, "none/x")), ""},
	} {
		if c.got != c.want {
			t.Errorf("listed %q, want %q", c.got, c.want)
		}
	}
	if _, err := st.ListDir(ctx, "c"); err == nil {
		t.Error("ListDir of a prefix without a trailing / succeeded")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ListDir(ctx, "c/"); err == nil {
		t.Error("ListDir in a store whose directory is gone listed empty")
	}
	if _, err := st.List(ctx, "c/"); err == nil {
		t.Error("List in a store whose directory is gone listed empty")
	}
}
