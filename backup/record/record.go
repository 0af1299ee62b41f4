// Package record keeps etcdguard's own small JSON records for a cluster
// (the last failure, acknowledged shrinks, the last successful drill, the
// revision the agent last saw) in the store, under _etcdguard/<cluster>/:
// beside, not inside, the cluster's snapshot directory, so that snapshot
// listings never mistake them for snapshots. Cluster names cannot start
// with "_".
package record

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/k8sguard/k8sguard/backup/store"
)

// maxSize bounds what Get reads: records are a few hundred bytes, and a
// mangled object must not exhaust memory.
const maxSize = 1 << 20

// Prefix is where cluster's records live.
func Prefix(cluster string) string { return "_etcdguard/" + cluster + "/" }

// Key is the store key of cluster's record name (for example
// "last-failure.json" or "shrink-acks/<snapshot>.json").
func Key(cluster, name string) string { return Prefix(cluster) + name }

// Put stores v as indented JSON in cluster's record name. Like every Put,
// it is all or nothing: a reader sees the old record or the new one.
func Put(ctx context.Context, st store.Store, cluster, name string, v any) error {
	return WriteJSON(ctx, st, Key(cluster, name), v)
}

// Get decodes cluster's record name into v. found is false (and err nil)
// when there is no such record.
func Get(ctx context.Context, st store.Store, cluster, name string, v any) (found bool, err error) {
	key := Key(cluster, name)
	fromStore, err := readJSON(ctx, st, key, v)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case fromStore:
		return false, fmt.Errorf("read %s: %w", key, err)
	case err != nil:
		return false, err
	}
	return true, nil
}

// WriteJSON stores v as indented JSON at key: how every record and every
// manifest (the snapshot and delta commit markers) is written.
func WriteJSON(ctx context.Context, st store.Store, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if _, err := st.Put(ctx, key, bytes.NewReader(append(b, '\n'))); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// ReadJSON loads the JSON object at key (at most maxSize: records and
// manifests are small, and a mangled object must not exhaust memory) into
// v. The store's own error is returned as it is (store.ErrNotFound for a
// missing key).
func ReadJSON(ctx context.Context, st store.Store, key string, v any) error {
	_, err := readJSON(ctx, st, key, v)
	return err
}

// readJSON is ReadJSON; fromStore says the error is the store's Get's.
func readJSON(ctx context.Context, st store.Store, key string, v any) (fromStore bool, err error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return true, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSize))
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, &MalformedError{Key: key, Err: err}
	}
	return false, nil
}

// MalformedError is an object that was read whole but is not valid JSON:
// a damaged record or manifest, as opposed to a store that failed to
// answer.
type MalformedError struct {
	Key string
	Err error
}

func (e *MalformedError) Error() string { return fmt.Sprintf("%s is not valid JSON: %v", e.Key, e.Err) }
func (e *MalformedError) Unwrap() error { return e.Err }

// List returns the names (relative to Prefix) of cluster's records under
// dir ("shrink-acks/"), sorted.
func List(ctx context.Context, st store.Store, cluster, dir string) ([]string, error) {
	objs, err := st.List(ctx, Key(cluster, dir))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", Key(cluster, dir), err)
	}
	names := make([]string, 0, len(objs))
	for _, o := range objs {
		names = append(names, o.Key[len(Prefix(cluster)):])
	}
	return names, nil
}
