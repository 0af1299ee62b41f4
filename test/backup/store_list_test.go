package backup_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

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
