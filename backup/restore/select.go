package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// Latest selects the newest complete snapshot.
const Latest = "latest"

// Selector names one snapshot: "latest" (optionally the newest taken at or
// before Before), or a key: the data key, the manifest key or the bare name
// ("20261122T031500Z-r1234") that `etcdguard list` prints.
type Selector struct {
	Snapshot string
	Before   time.Time
}

// Find resolves sel to the manifest of a complete snapshot of cluster.
func Find(ctx context.Context, s store.Store, cluster string, sel Selector) (*snapshot.Manifest, error) {
	if sel.Snapshot == "" || sel.Snapshot == Latest {
		return findLatest(ctx, s, cluster, sel.Before)
	}
	if !sel.Before.IsZero() {
		return nil, fmt.Errorf("--before picks the newest snapshot before a time; it cannot be combined with the key %q", sel.Snapshot)
	}
	key := sel.Snapshot
	if !strings.Contains(key, "/") {
		key = cluster + "/" + key
	}
	m, err := snapshot.Read(ctx, s, snapshot.ManifestKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("snapshot %q: no manifest %s in %s (an upload that never finished has none); 'etcdguard list' shows the complete snapshots", sel.Snapshot, snapshot.ManifestKey(key), s)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", sel.Snapshot, err)
	}
	return m, nil
}

func findLatest(ctx context.Context, s store.Store, cluster string, before time.Time) (*snapshot.Manifest, error) {
	l, err := snapshot.List(ctx, s, cluster)
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %q in %s: %w", cluster, s, err)
	}
	if len(l.Snapshots) == 0 {
		return nil, fmt.Errorf("no complete snapshot of cluster %q in %s", cluster, s)
	}
	if before.IsZero() {
		return l.Snapshots[0], nil
	}
	for _, m := range l.Snapshots { // newest first
		if !m.CreatedAt.After(before) {
			return m, nil
		}
	}
	oldest := l.Snapshots[len(l.Snapshots)-1]
	return nil, fmt.Errorf("no snapshot of cluster %q taken at or before %s in %s; the oldest is %s (%s)",
		cluster, before.UTC().Format(time.RFC3339), s, oldest.Name(), oldest.CreatedAt.UTC().Format(time.RFC3339))
}
