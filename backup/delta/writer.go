package delta

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/internal/buildinfo"
)

// Why a chain broke: the reason label of etcdguard_delta_chain_breaks_total.
// Each forces a new full snapshot, which starts a new chain.
const (
	// BreakCompacted: etcd compacted past the watch position, so the
	// changes in between can no longer be read.
	BreakCompacted = "compacted"
	// BreakGap: a revision went missing from the watch stream.
	BreakGap = "gap"
	// BreakStore: segments could not be committed and the backlog held in
	// memory reached delta.max_bytes; it is dropped rather than grown.
	BreakStore = "store"
	// BreakLeadership: this agent stopped being the cluster's uploader; the
	// next leader starts its own chain.
	BreakLeadership = "leadership"
)

// BreakReasons lists every reason (metrics initialise a series for each).
var BreakReasons = []string{BreakCompacted, BreakGap, BreakStore, BreakLeadership}

// ChainBreak is Follow's error when the chain cannot go on.
type ChainBreak struct {
	Reason string
	Err    error
}

func (e *ChainBreak) Error() string { return "delta chain broken (" + e.Reason + "): " + e.Err.Error() }
func (e *ChainBreak) Unwrap() error { return e.Err }

// Defaults of the delta configuration (config delta.*).
const (
	DefaultInterval = 10 * time.Second
	DefaultMaxBytes = 64 << 20
)

// Options tune Follow.
type Options struct {
	Cluster string
	// Interval between segments; a segment is also cut as soon as its
	// uncompressed events reach MaxBytes. MaxBytes also caps the
	// compressed segments held in memory while the store refuses them:
	// past it the chain breaks (BreakStore) instead of growing.
	Interval time.Duration
	MaxBytes int64
	// OnCommit is called after each committed segment (metrics).
	OnCommit func(*Manifest)
	Logger   *slog.Logger
	Now      func() time.Time
}

// Follow writes the delta chain of full snapshot snap: it watches etcd
// from revision from+1 and commits a segment every Interval, until ctx
// ends (it then commits what it holds, within a few seconds, and returns
// nil) or the chain cannot go on (a *ChainBreak). from is a revision the
// snapshot's database is known to hold (snapshot.Result.StatusRevision):
// a replay skips the changes the database already has.
//
// A watch that ends for any other reason (etcd restarted, a connection
// dropped) is resumed from the next revision: no change is lost as long
// as etcd has not compacted it away.
func Follow(ctx context.Context, cli *clientv3.Client, st store.Store, snap *snapshot.Manifest, from int64, o Options) error {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &writer{cli: cli, st: st, snap: snap, o: o, log: o.Logger.With("chain", snap.Name()),
		prevSHA: snap.StoredSHA256, nextFirst: from + 1, lastRev: from, enc: newEncoder(), lastCut: o.Now()}
	return w.run(ctx)
}

type writer struct {
	cli  *clientv3.Client
	st   store.Store
	snap *snapshot.Manifest
	o    Options
	log  *slog.Logger

	// The chain so far.
	seq       int
	prevSHA   string
	nextFirst int64 // FirstRevision of the next segment
	lastRev   int64 // newest revision seen

	// The open segment.
	enc                     *encoder
	events, revisions       int
	firstChange, lastChange time.Time
	heard                   time.Time // last response from etcd
	lastCut                 time.Time

	pending      []*cut // cut, not yet committed, oldest first
	pendingBytes int64
	// After a failed commit: the error, and when to try again (an
	// interval later; ticks before then only cut).
	commitErr error
	retryAt   time.Time
}

type cut struct {
	m    *Manifest
	data []byte
}

func (w *writer) run(ctx context.Context) error {
	tick := time.NewTicker(w.o.Interval)
	defer tick.Stop()
	retry := time.Second
	for {
		wctx, cancel := context.WithCancel(ctx)
		// From the last revision seen, not the next: etcd sends no progress
		// notifications to a watch that starts in the future, and an idle
		// etcd's coverage rests on them. add skips what was seen.
		wch := w.cli.Watch(wctx, "", clientv3.WithPrefix(), clientv3.WithRev(max(w.lastRev, 1)), clientv3.WithProgressNotify())
		err := w.follow(ctx, wctx, wch, tick.C)
		cancel()
		if ctx.Err() != nil {
			return w.stop()
		}
		var brk *ChainBreak
		if errors.As(err, &brk) {
			w.log.Warn("delta chain broken", "reason", brk.Reason, "err", brk.Err, "last_revision", w.lastRev)
			if brk.Reason != BreakStore {
				// What arrived before the break is whole: commit it, so the
				// chain restores up to the last revision it saw.
				w.cut()
				w.flush(ctx)
			}
			return err
		}
		// The watch ended without a verdict (etcd restarted, the stream
		// was reset): resume where it stopped.
		w.log.Warn("delta watch interrupted; resuming", "from_revision", w.lastRev+1, "err", err)
		select {
		case <-ctx.Done():
			return w.stop()
		case <-time.After(retry):
		}
		retry = min(2*retry, 10*time.Second)
	}
}

// follow consumes one watch until it ends.
func (w *writer) follow(ctx, wctx context.Context, wch clientv3.WatchChan, tick <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			if err := w.commit(ctx); err != nil {
				return err
			}
			// Ask etcd to confirm where it is: on an idle etcd this is what
			// lets a segment say "nothing changed until now".
			w.cli.RequestProgress(wctx)
		case resp, ok := <-wch:
			if !ok {
				return errors.New("watch channel closed")
			}
			if resp.CompactRevision != 0 {
				return &ChainBreak{BreakCompacted, fmt.Errorf("etcd compacted revision %d, past the chain's next revision %d", resp.CompactRevision, w.lastRev+1)}
			}
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					return &ChainBreak{BreakCompacted, err}
				}
				return err
			}
			if resp.Canceled {
				return errors.New("watch cancelled by etcd")
			}
			now := w.o.Now()
			w.heard = now
			if resp.IsProgressNotify() {
				if resp.Header.Revision > w.lastRev {
					return &ChainBreak{BreakGap, fmt.Errorf("etcd reports revision %d, the watch delivered only up to %d", resp.Header.Revision, w.lastRev)}
				}
				continue
			}
			if err := w.add(resp.Events, now); err != nil {
				return err
			}
			if w.enc.raw >= w.o.MaxBytes {
				if err := w.commit(ctx); err != nil {
					return err
				}
			} else if err := w.checkHeld(); err != nil {
				return err
			}
		}
	}
}

// add appends one watch response's events, grouped by revision. etcd
// bumps the revision only for a transaction that changed something, and
// never splits a revision across responses, so the revisions must follow
// each other without a hole.
func (w *writer) add(events []*clientv3.Event, seen time.Time) error {
	for i := 0; i < len(events); {
		rev := events[i].Kv.ModRevision
		j := i
		for j < len(events) && events[j].Kv.ModRevision == rev {
			j++
		}
		if rev <= w.lastRev {
			i = j // seen before the watch (re)started
			continue
		}
		if rev != w.lastRev+1 {
			return &ChainBreak{BreakGap, fmt.Errorf("the watch delivered revision %d after %d", rev, w.lastRev)}
		}
		evs := make([]*mvccpb.Event, j-i)
		for k := i; k < j; k++ {
			evs[k-i] = (*mvccpb.Event)(events[k])
		}
		if err := w.enc.add(Change{Revision: rev, Seen: seen, Events: evs}); err != nil {
			return err
		}
		if w.revisions == 0 {
			w.firstChange = seen
		}
		w.lastChange = seen
		w.revisions++
		w.events += j - i
		w.lastRev = rev
		i = j
	}
	return nil
}

// cut closes the open segment into the pending list. A segment without
// events is cut only when etcd answered since the last one: it records
// that nothing changed up to then (the RPO of an idle etcd stays low).
func (w *writer) cut() {
	if w.revisions == 0 && !w.heard.After(w.lastCut) {
		return
	}
	data := w.enc.finish()
	sum := sha256.Sum256(data)
	w.seq++
	name := SegmentName(w.seq, w.nextFirst, w.lastRev)
	m := &Manifest{
		FormatVersion: FormatVersion,
		Kind:          Kind,
		Cluster:       w.o.Cluster,
		Snapshot:      w.snap.Name(),
		Sequence:      w.seq,
		DataKey:       DataKey(w.snap, name),
		FirstRevision: w.nextFirst,
		LastRevision:  w.lastRev,
		Events:        w.events,
		Revisions:     w.revisions,
		FirstChange:   w.firstChange.UTC(),
		LastChange:    w.lastChange.UTC(),
		CoveredAt:     w.heard.UTC(),
		Compression:   snapshot.CompressionZstd,
		RawSize:       w.enc.raw,
		StoredSize:    int64(len(data)),
		SHA256:        hex.EncodeToString(sum[:]),
		PrevSHA256:    w.prevSHA,
		ToolVersion:   buildinfo.Version,
	}
	w.pending = append(w.pending, &cut{m: m, data: data})
	w.pendingBytes += int64(len(data))
	w.prevSHA, w.nextFirst = m.SHA256, w.lastRev+1
	w.enc, w.events, w.revisions = newEncoder(), 0, 0
	w.firstChange, w.lastChange = time.Time{}, time.Time{}
	w.lastCut = w.heard
}

// commit cuts the open segment and commits what is pending, except
// within an interval of a failed commit: then the segments are only held
// (up to delta.max_bytes). A store that fails slowly (the SDK's retries
// take seconds) must not keep the watch from being read for long, or the
// backlog would pile up, unbounded, inside the etcd client instead.
func (w *writer) commit(ctx context.Context) error {
	w.cut()
	if len(w.pending) > 0 && w.o.Now().Before(w.retryAt) {
		return w.checkHeld()
	}
	return w.flush(ctx)
}

// checkHeld breaks the chain when segments wait for a store that refused
// them and what is held passed delta.max_bytes.
func (w *writer) checkHeld() error {
	if len(w.pending) == 0 || w.commitErr == nil {
		return nil
	}
	if held := w.pendingBytes + int64(w.enc.buf.Len()); held > w.o.MaxBytes {
		return &ChainBreak{BreakStore, fmt.Errorf("%d segments (%d bytes) could not be committed, past delta.max_bytes %d: %w", len(w.pending), held, w.o.MaxBytes, w.commitErr)}
	}
	return nil
}

// flush commits the pending segments in order; the first failure leaves
// it and the rest for the next attempt, an interval later.
func (w *writer) flush(ctx context.Context) error {
	for len(w.pending) > 0 {
		c := w.pending[0]
		c.m.CreatedAt = w.o.Now().UTC()
		err := snapshot.Commit(ctx, w.st, c.m.DataKey, c.data, ManifestKey(c.m.DataKey), c.m)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.commitErr, w.retryAt = err, w.o.Now().Add(w.o.Interval)
			if err := w.checkHeld(); err != nil {
				return err
			}
			w.log.Warn("delta segment not committed; retrying at the next interval", "segment", c.m.Name(), "pending", len(w.pending), "err", err)
			return nil
		}
		w.commitErr = nil
		w.pending = w.pending[1:]
		w.pendingBytes -= int64(len(c.data))
		w.log.Debug("delta segment committed", "segment", c.m.Name(), "events", c.m.Events, "bytes", c.m.StoredSize)
		if w.o.OnCommit != nil {
			w.o.OnCommit(c.m)
		}
	}
	return nil
}

// stop commits what is held when the agent stops (SIGTERM), within a few
// seconds: a clean stop loses nothing the watch delivered.
func (w *writer) stop() error {
	w.cut()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.flush(ctx); err != nil {
		return err
	}
	if len(w.pending) > 0 {
		return fmt.Errorf("stopping: %d delta segment(s) not committed", len(w.pending))
	}
	return nil
}
