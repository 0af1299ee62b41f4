package snapshot

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/k8sguard/k8sguard/backup/record"
	"github.com/k8sguard/k8sguard/backup/store"
)

// ShrinkAck records that an operator accepted a shrink.
type ShrinkAck struct {
	Snapshot string    `json:"snapshot"`
	At       time.Time `json:"at"`
	By       string    `json:"by,omitempty"`
}

// AckShrink acknowledges the shrink that snapshot name shows, so check stops
// reporting it and retention may rotate the snapshot before it.
func AckShrink(ctx context.Context, st store.Store, cluster, name, by string, now time.Time) error {
	return record.Put(ctx, st, cluster, shrinkAcksDir+name+".json", ShrinkAck{Snapshot: name, At: now.UTC(), By: by})
}

// ShrinkAcks returns the names of acknowledged shrunken snapshots.
func ShrinkAcks(ctx context.Context, st store.Store, cluster string) (map[string]bool, error) {
	names, err := record.List(ctx, st, cluster, shrinkAcksDir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range names {
		out[strings.TrimSuffix(path.Base(n), ".json")] = true
	}
	return out, nil
}

// Failure is the last failed snapshot attempt, for check to report.
type Failure struct {
	At    time.Time `json:"at"`
	Stage string    `json:"stage"`
	Error string    `json:"error"`
}

// Record names, under record.Prefix.
const (
	shrinkAcksDir = "shrink-acks/"
	failureRecord = "last-failure.json"
)

// RecordFailure stores the last failure (best effort: when the store is
// what failed, this fails too, and check reports the stale snapshot).
func RecordFailure(ctx context.Context, st store.Store, cluster string, f Failure) error {
	return record.Put(ctx, st, cluster, failureRecord, f)
}

// LastFailure returns the last recorded failure, or nil.
func LastFailure(ctx context.Context, st store.Store, cluster string) (*Failure, error) {
	var f Failure
	if found, err := record.Get(ctx, st, cluster, failureRecord, &f); !found {
		return nil, err
	}
	return &f, nil
}

// CleanupResult counts what Cleanup removed.
type CleanupResult struct {
	IncompleteUploads int
	Orphans           int
}

// MaxDuration bounds one snapshot, taken by the agent, by its timer or by
// hand (agent.Once): a stream or a store that stops answering fails the
// snapshot, counted and recorded, instead of stalling it forever, and what
// it left is then no live writer's once CommitGrace old.
const MaxDuration = time.Hour

// CommitGrace is how long what a writer leaves on its way to a manifest
// (a multipart upload in flight, a data object without a manifest yet) may
// still be a live writer's: a snapshot is bounded by MaxDuration, and S3
// dates a multipart upload and its object by the start of the upload. A
// snapshot taken by hand runs beside the agent (and the agent may restart
// beside it), so whichever cleans up must not take the other's for an
// interrupted one: an aborted upload fails the other's snapshot (on a large
// database, every time a snapshot is taken by hand during its upload), and
// a deleted data object leaves the manifest written a moment later naming
// an object that is gone, a snapshot that looks complete and does not
// restore.
const CommitGrace = MaxDuration

// Settled moves before back to CommitGrace ago when that is earlier: what
// a writer left before the result is no live writer's. Every cleanup of
// what interrupted writers left (snapshots, uploads, delta segments) cuts
// off here.
func Settled(before time.Time) time.Time {
	if grace := time.Now().Add(-CommitGrace); grace.Before(before) {
		return grace
	}
	return before
}

// Cleanup removes what interrupted snapshots left behind before olderThan,
// and before CommitGrace ago: incomplete uploads (stale multipart uploads,
// partial files) and data objects that never got a manifest.
func Cleanup(ctx context.Context, st store.Store, cluster string, olderThan time.Time) (CleanupResult, error) {
	olderThan = Settled(olderThan)
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
