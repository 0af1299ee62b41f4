package delta

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// How a bridge ended: the result label of etcdguard_delta_bridges_total.
//
// A bridge is what a newly elected agent writes at the end of its
// predecessor's chain: the revisions between that chain's last committed
// segment and the new leader's full snapshot, read back from etcd's
// history. Without it they are in no chain (the old leader stopped, the
// new chain starts after the new snapshot): 12–17 s of history per
// handover that no restore could reach.
const (
	// BridgeCommitted: the old chain now reaches the new snapshot.
	BridgeCommitted = "committed"
	// BridgeCompacted: etcd compacted past the old chain's end; the
	// revisions in between are gone, the gap stays.
	BridgeCompacted = "compacted"
	// BridgeWithdrawn: another writer committed a segment of the same
	// sequence (the old leader's last one, late), or the old snapshot was
	// deleted meanwhile; the bridge's own objects were removed.
	BridgeWithdrawn = "withdrawn"
	// BridgeFailed: the old chain was not whole, an interrupted commit
	// of its writer is too recent to tell from one in flight, or etcd or
	// the store failed within the bridge's time.
	BridgeFailed = "failed"
)

// BridgeResults lists every result (metrics initialise a series for each).
var BridgeResults = []string{BridgeCommitted, BridgeCompacted, BridgeWithdrawn, BridgeFailed}

// BridgeError is Extend's error: why no (whole) bridge was written.
type BridgeError struct {
	Result string
	Err    error
}

func (e *BridgeError) Error() string { return "delta bridge " + e.Result + ": " + e.Err.Error() }
func (e *BridgeError) Unwrap() error { return e.Err }

// Bridged is what Extend did to the chain of Snapshot.
type Bridged struct {
	Snapshot *snapshot.Manifest
	// From is the chain's last revision before the bridge; Until the
	// revision the bridge was to reach.
	From, Until int64
	// Segments are the segments committed and left standing (none when
	// the chain already reached Until, or the bridge was withdrawn).
	Segments []*Manifest
	// Withdrawn are the segments committed and then removed.
	Withdrawn []*Manifest
}

// LastRevision is the newest revision the bridge committed (From without
// segments).
func (b *Bridged) LastRevision() int64 {
	if len(b.Segments) == 0 {
		return b.From
	}
	return b.Segments[len(b.Segments)-1].LastRevision
}

// Extend bridges the chain of full snapshot snap up to revision until: it
// reads etcd's changes after the chain's last committed revision (the
// snapshot's own when it has no segment) and commits them as the chain's
// next segments, linked as the chain's writer would have linked them, cut
// at o.MaxBytes. It returns once until is committed or ctx ends (the
// caller bounds it; what was committed by then stands: a chain that
// reaches less far is still whole; a commit cut short by ctx is removed,
// manifest first).
//
// The chain's writer must have stopped: Extend reads the chain once,
// before it starts. Afterwards it lists the chain again, and when a
// segment of a sequence it wrote is not its own (two writers after all;
// its segments are read back: another writer that wrote the same
// revisions writes under the same key)
// or the snapshot is gone (retention), it deletes its own segments,
// manifests first, and returns a BridgeError "withdrawn": the other
// writer's segment stands.
//
// The bridged changes carry the time the bridge read them, later than
// etcd committed them (a date is never early), and every bridge segment
// keeps the coverage time (covered_at) of the chain before it: the
// bridge restores by revision, and `restore --at` a time inside it is
// refused as before, never answered with a state older than asked.
func Extend(ctx context.Context, cli *clientv3.Client, st store.Store, snap *snapshot.Manifest, until int64, o Options) (*Bridged, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := Load(ctx, st, snap, nil)
	if err != nil {
		return nil, &BridgeError{BridgeFailed, err}
	}
	b := &Bridged{Snapshot: snap, From: c.LastRevision(), Until: until}
	if c.Broken != nil {
		return b, &BridgeError{BridgeFailed, fmt.Errorf("the chain is not whole: %w", c.Broken)}
	}
	if b.From >= until {
		return b, nil
	}
	settled := snapshot.Settled(o.Now())
	for _, orphan := range c.Orphans {
		// Data without a manifest after the last segment: a commit that
		// was interrupted, or one still on its way. A bridge segment of
		// the same sequence would break the chain either way; cleanup
		// removes it once no writer can still be at it.
		if !orphan.LastModified.Before(settled) {
			return b, &BridgeError{BridgeFailed, fmt.Errorf("the chain's writer left %s without a manifest %s ago (an interrupted commit, or one in flight): the chain is left as it is",
				orphan.Key, o.Now().Sub(orphan.LastModified).Round(time.Second))}
		}
		if err := st.Delete(ctx, orphan.Key); err != nil {
			return b, &BridgeError{BridgeFailed, fmt.Errorf("remove the interrupted commit %s: %w", orphan.Key, err)}
		}
	}
	prevSHA, covered := snap.StoredSHA256, snap.CreatedAt
	if n := len(c.Segments); n > 0 {
		prevSHA, covered = c.Segments[n-1].SHA256, c.Segments[n-1].CoveredAt
	}
	o.OnCommit = func(m *Manifest) { b.Segments = append(b.Segments, m) }
	w := &writer{cli: cli, st: st, snap: snap, o: o, log: o.Logger.With("chain", snap.Name(), "bridge_until", until),
		seq: len(c.Segments), prevSHA: prevSHA, nextFirst: b.From + 1, lastRev: b.From, zw: segmentZstd(),
		limit: until, heard: covered, lastCut: covered}
	bridgeErr := w.bridge(ctx, until)
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if len(w.pending) > 0 {
		// A commit cut short when ctx ended: the store may have applied
		// its manifest although the put reported the cancellation (and
		// Commit then deleted its data): a manifest without data, or a
		// sequence the listing below would take for another writer's.
		// It is not the bridge's: remove it, manifest first.
		var unsure []*Manifest
		for _, c := range w.pending {
			unsure = append(unsure, c.m)
		}
		if err := withdraw(vctx, st, unsure); err != nil {
			return b, &BridgeError{BridgeFailed, fmt.Errorf("removing the bridge's segment %s, whose commit was cut short, failed: %w", unsure[0].Name(), err)}
		}
	}
	if len(b.Segments) == 0 {
		return b, bridgeErr
	}
	// What was committed is checked even when the bridge ended early.
	why, keep, err := contested(vctx, st, snap, b.Segments)
	if err != nil {
		return b, &BridgeError{BridgeFailed, fmt.Errorf("the chain could not be listed again after the bridge (its segments stay): %w", err)}
	}
	if why != "" {
		for _, m := range b.Segments {
			if !keep[m] {
				b.Withdrawn = append(b.Withdrawn, m)
			}
		}
		b.Segments = nil
		if err := withdraw(vctx, st, b.Withdrawn); err != nil {
			return b, &BridgeError{BridgeWithdrawn, fmt.Errorf("%s, and removing the bridge failed: %w", why, err)}
		}
		return b, &BridgeError{BridgeWithdrawn, errors.New(why + ": the bridge's segments were removed")}
	}
	return b, bridgeErr
}

// bridge reads up to until and commits it (see Extend).
func (w *writer) bridge(ctx context.Context, until int64) error {
	failures := 0
	for w.lastRev < until {
		err := w.read(ctx, until)
		var brk *ChainBreak
		if errors.As(err, &brk) {
			if brk.Reason == BreakCompacted {
				return &BridgeError{BridgeCompacted, fmt.Errorf("%w; the revisions %d..%d are in no chain", brk.Err, w.lastRev+1, until)}
			}
			return &BridgeError{BridgeFailed, brk}
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			w.log.Warn("reading etcd's changes for the bridge failed; resuming", "from_revision", w.lastRev+1, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(min(failures, 5)) * time.Second):
			}
			continue
		}
		if w.full() || w.lastRev >= until {
			w.cut()
			if err := w.flush(ctx); err != nil {
				return &BridgeError{BridgeFailed, err}
			}
			if w.commitErr != nil {
				return &BridgeError{BridgeFailed, fmt.Errorf("committing a segment: %w", w.commitErr)}
			}
		}
	}
	if w.lastRev < until {
		return &BridgeError{BridgeFailed, fmt.Errorf("ended at revision %d of %d: %w", w.lastRev, until, context.Cause(ctx))}
	}
	return nil
}

// contested says why a bridge's segments ours cannot stand, "" when they
// can: a segment of the chain with a sequence of theirs (or later) that is
// not one of them, the chain's snapshot gone, or another writer's manifest
// or data under one of their keys. keep names those of ours whose key now
// holds another writer's whole segment (its manifest, and data of the
// sha256 it names): withdrawing the bridge must not delete it.
func contested(ctx context.Context, st store.Store, snap *snapshot.Manifest, ours []*Manifest) (why string, keep map[*Manifest]bool, err error) {
	own := map[string]bool{}
	for _, m := range ours {
		own[m.DataKey], own[ManifestKey(m.DataKey)] = true, true
	}
	objs, err := st.List(ctx, ChainDir(snap))
	if err != nil {
		return "", nil, err
	}
	for _, o := range objs {
		seq, _, _, _, ok := parseKey(o.Key)
		if ok && seq >= ours[0].Sequence && !own[o.Key] {
			why = fmt.Sprintf("another writer committed %s beside the bridge's %s", o.Key[strings.LastIndex(o.Key, "/")+1:], ours[0].Name())
			break
		}
	}
	if why == "" {
		if _, err := st.Stat(ctx, snapshot.ManifestKey(snap.DataKey)); errors.Is(err, store.ErrNotFound) {
			why = "the snapshot " + snap.Name() + " was deleted meanwhile (retention)"
		} else if err != nil {
			return "", nil, err
		}
	}
	// Another writer that wrote the same revisions after the same
	// segment gave its segment the bridge's key: the listing cannot tell
	// it apart, and a manifest of one writer over the data of the other
	// looks whole to Load, list and check while a restore fails on it.
	// The bridge's few segments are read back. Once a reason is known, a
	// segment that cannot be read back is simply not kept.
	known := why != ""
	keep = map[*Manifest]bool{}
	for _, m := range ours {
		var got Manifest
		err := snapshot.ReadJSON(ctx, st, ManifestKey(m.DataKey), &got)
		switch {
		case errors.Is(err, store.ErrNotFound) && why == "":
			why = fmt.Sprintf("the bridge's %s vanished", m.Name())
			continue
		case err != nil && known || errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return "", nil, err
		}
		probe := *m
		probe.StoredSize = max(m.StoredSize, got.StoredSize)
		sum, err := storedSHA256(ctx, st, &probe)
		switch {
		case errors.Is(err, store.ErrNotFound) && why == "":
			why = fmt.Sprintf("the data of the bridge's %s vanished", m.Name())
			continue
		case err != nil && known || errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return "", nil, err
		}
		if got.SHA256 != m.SHA256 && sum == got.SHA256 {
			// Its manifest and its data: a whole segment of its own.
			keep[m] = true
			if why == "" {
				why = fmt.Sprintf("another writer committed its own %s over the bridge's", m.Name())
			}
		} else if why == "" && (got.SHA256 != m.SHA256 || got.PrevSHA256 != m.PrevSHA256 || sum != m.SHA256) {
			why = fmt.Sprintf("another writer stored its own data or manifest under the bridge's %s", m.Name())
		}
	}
	return why, keep, nil
}

// storedSHA256 is the sha256 of segment m's data object (read up to one
// byte past its size).
func storedSHA256(ctx context.Context, st store.Store, m *Manifest) (string, error) {
	rc, err := st.Get(ctx, m.DataKey)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(rc, m.StoredSize+1)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// withdraw deletes segments, every manifest first (newest first), then
// the data: an interruption leaves data without a manifest, which
// cleanup removes, never a manifest without its data.
func withdraw(ctx context.Context, st store.Store, ms []*Manifest) error {
	for i := len(ms) - 1; i >= 0; i-- {
		if err := st.Delete(ctx, ManifestKey(ms[i].DataKey)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	for _, m := range ms {
		if err := st.Delete(ctx, m.DataKey); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}
