package backup_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/test/infra"
)

// ListDir on the real versitygw (a versioned bucket) lists a directory's
// objects with S3's delimiter: not its subdirectories' (a chain's delta
// segments), not a deleted object (a delete marker), past a page of
// results; List still lists everything under a prefix.
func TestS3StoreListDirLeavesOutDeeperKeys(t *testing.T) {
	ctx := context.Background()
	s := infra.StartS3(t)
	st := snapStore(s)
	var top []string
	put := func(k string) {
		t.Helper()
		if _, err := st.Put(ctx, k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1100 { // more than one page (1,000 keys) of segments
		put(fmt.Sprintf("c/a.deltas/%06d-r1-r2.json", i+1))
	}
	for _, k := range []string{"c/a.db.zst", "c/a.json", "c/b.db.zst", "c/b.json", "c/gone.json"} {
		put(k)
		if k != "c/gone.json" {
			top = append(top, k)
		}
	}
	put("d/x.json")
	if err := st.Delete(ctx, "c/gone.json"); err != nil {
		t.Fatal(err)
	}
	objs, err := st.ListDir(ctx, "c/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		if o.Size != int64(len(o.Key)) || o.LastModified.IsZero() {
			t.Errorf("%s: size %d, modified %s", o.Key, o.Size, o.LastModified)
		}
		got = append(got, o.Key)
	}
	if strings.Join(got, " ") != strings.Join(top, " ") {
		t.Fatalf("ListDir c/: %q, want %q", got, top)
	}
	all, err := st.List(ctx, "c/")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1100+4 {
		t.Fatalf("List c/: %d objects, want %d", len(all), 1100+4)
	}
}

// The file store lists as S3 does, checked against the real versitygw:
// the same generated keys (nested directories, names that share
// prefixes, a deleted one) in both, and ListDir and List of every
// directory and of prefixes that end mid-name compared.
func TestFileStoreListsAsS3Does(t *testing.T) {
	ctx := context.Background()
	s := infra.StartS3(t)
	s3st := snapStore(s)
	fst, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(24, 1))
	names := []string{"a", "ab", "a.deltas", "b", "b.json", "c.db.zst"}
	dirs := map[string]bool{"": true}
	var keys []string
	for range 150 {
		k := ""
		for d := rng.IntN(3); d > 0; d-- {
			k += names[rng.IntN(len(names))] + "/"
			dirs[k] = true
		}
		keys = append(keys, k+names[rng.IntN(len(names))]+fmt.Sprint(rng.IntN(5)))
	}
	for _, st := range []store.Store{s3st, fst} {
		for _, k := range keys {
			if _, err := st.Put(ctx, k, strings.NewReader(k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Delete(ctx, keys[0]); err != nil {
			t.Fatal(err)
		}
	}
	listed := func(objs []store.Object, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, o := range objs {
			ks = append(ks, fmt.Sprintf("%s:%d", o.Key, o.Size))
		}
		return strings.Join(ks, " ")
	}
	compared := 0
	for d := range dirs {
		if got, want := listed(fst.ListDir(ctx, d)), listed(s3st.ListDir(ctx, d)); got != want {
			t.Errorf("ListDir %q: file store %q, S3 %q", d, got, want)
		}
		for _, p := range []string{d, d + "a", d + "a.", d + "b"} {
			if got, want := listed(fst.List(ctx, p)), listed(s3st.List(ctx, p)); got != want {
				t.Errorf("List %q: file store %q, S3 %q", p, got, want)
			}
			compared++
		}
	}
	t.Logf("%d keys, %d directories: ListDir and %d List prefixes agree", len(keys), len(dirs), compared)
}
