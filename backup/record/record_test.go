package record_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/k8sguard/k8sguard/backup/record"
	"github.com/k8sguard/k8sguard/backup/store"
)

type sample struct {
	Revision int64  `json:"revision"`
	Note     string `json:"note"`
}

func TestPutGetListRoundTripInFileStore(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var got sample
	if found, err := record.Get(ctx, st, "c1", "rev.json", &got); found || err != nil {
		t.Fatalf("missing record: found=%v err=%v, want false, nil", found, err)
	}
	want := sample{Revision: 42, Note: "x"}
	if err := record.Put(ctx, st, "c1", "rev.json", want); err != nil {
		t.Fatal(err)
	}
	if found, err := record.Get(ctx, st, "c1", "rev.json", &got); !found || err != nil || got != want {
		t.Fatalf("Get = %+v found=%v err=%v, want %+v", got, found, err, want)
	}
	// Another cluster's records are separate.
	if found, _ := record.Get(ctx, st, "c2", "rev.json", &got); found {
		t.Fatal("c2 sees c1's record")
	}
	for _, n := range []string{"acks/b.json", "acks/a.json"} {
		if err := record.Put(ctx, st, "c1", n, want); err != nil {
			t.Fatal(err)
		}
	}
	names, err := record.List(ctx, st, "c1", "acks/")
	if err != nil || !reflect.DeepEqual(names, []string{"acks/a.json", "acks/b.json"}) {
		t.Fatalf("List = %v, %v", names, err)
	}
	objs, _ := st.List(ctx, "_etcdguard/c1/")
	if len(objs) != 3 {
		t.Fatalf("store holds %d objects under _etcdguard/c1/, want 3: %v", len(objs), objs)
	}
}

func TestGetRefusesAMangledRecordNamingTheKey(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, record.Key("c1", "rev.json"), strings.NewReader("{not json")); err != nil {
		t.Fatal(err)
	}
	var got sample
	found, err := record.Get(ctx, st, "c1", "rev.json", &got)
	if found || err == nil || !strings.Contains(err.Error(), "_etcdguard/c1/rev.json is not valid JSON") {
		t.Fatalf("found=%v err=%v, want an error naming the key", found, err)
	}
	if errors.Is(err, store.ErrNotFound) {
		t.Fatal("a mangled record must not look missing")
	}
}
