package storetest

import (
	"context"
	"io"
	"testing"

	"github.com/k8sguard/k8sguard/backup/store"
)

// Read returns the whole of key's object in st, failing the test when it
// cannot be read.
func Read(t testing.TB, st store.Store, key string) []byte {
	t.Helper()
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data
}
