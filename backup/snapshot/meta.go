package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/k8sguard/k8sguard/backup/store"
)

// metaPrefix holds etcdguard's own records for a cluster, beside (not
// inside) the cluster's snapshot directory so that List never mistakes
// them for snapshots. Cluster names cannot start with "_".
func metaPrefix(cluster string) string { return "_etcdguard/" + cluster + "/" }

// ShrinkAck records that an operator accepted a shrink.
type ShrinkAck struct {
	Snapshot string    `json:"snapshot"`
	At       time.Time `json:"at"`
	By       string    `json:"by,omitempty"`
}

// AckShrink acknowledges the shrink that snapshot name shows, so check stops
// reporting it and retention may rotate the snapshot before it.
func AckShrink(ctx context.Context, st store.Store, cluster, name, by string, now time.Time) error {
	return putJSON(ctx, st, metaPrefix(cluster)+"shrink-acks/"+name+".json", ShrinkAck{Snapshot: name, At: now.UTC(), By: by})
}

// ShrinkAcks returns the names of acknowledged shrunken snapshots.
func ShrinkAcks(ctx context.Context, st store.Store, cluster string) (map[string]bool, error) {
	objs, err := st.List(ctx, metaPrefix(cluster)+"shrink-acks/")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, o := range objs {
		out[strings.TrimSuffix(path.Base(o.Key), ".json")] = true
	}
	return out, nil
}

// Failure is the last failed snapshot attempt, for check to report.
type Failure struct {
	At    time.Time `json:"at"`
	Stage string    `json:"stage"`
	Error string    `json:"error"`
}

func failureKey(cluster string) string { return metaPrefix(cluster) + "last-failure.json" }

// RecordFailure stores the last failure (best effort: when the store is
// what failed, this fails too, and check reports the stale snapshot).
func RecordFailure(ctx context.Context, st store.Store, cluster string, f Failure) error {
	return putJSON(ctx, st, failureKey(cluster), f)
}

// LastFailure returns the last recorded failure, or nil.
func LastFailure(ctx context.Context, st store.Store, cluster string) (*Failure, error) {
	var f Failure
	if err := getJSON(ctx, st, failureKey(cluster), &f); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return &f, nil
}

func putJSON(ctx context.Context, st store.Store, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if _, err := st.Put(ctx, key, strings.NewReader(string(b)+"\n")); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func getJSON(ctx context.Context, st store.Store, key string, v any) error {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is not valid JSON: %w", key, err)
	}
	return nil
}

// CleanupResult counts what Cleanup removed.
type CleanupResult struct {
	IncompleteUploads int
	Orphans           int
}

// Cleanup removes what interrupted snapshots left behind before olderThan:
// incomplete uploads (stale multipart uploads, partial files) and data
// objects that never got a manifest. Call it only where this process is the
// cluster's single writer (the elected agent, at start).
func Cleanup(ctx context.Context, st store.Store, cluster string, olderThan time.Time) (CleanupResult, error) {
	var r CleanupResult
	n, err := st.CleanupIncomplete(ctx, olderThan)
	r.IncompleteUploads = n
	if err != nil {
		return r, fmt.Errorf("clean up incomplete uploads: %w", err)
	}
	l, err := List(ctx, st, cluster)
	if err != nil {
		return r, fmt.Errorf("clean up orphans: %w", err)
	}
	for _, o := range l.Orphans {
		if !o.LastModified.Before(olderThan) {
			continue
		}
		if err := st.Delete(ctx, o.Key); err != nil {
			return r, fmt.Errorf("clean up orphan: %w", err)
		}
		r.Orphans++
	}
	return r, nil
}
