package delta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/klauspost/compress/zstd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/internal/buildinfo"
)

// Why a chain broke: the reason label of etcdguard_delta_chain_breaks_total.
// Each forces a new full snapshot, which starts a new chain.
const (
	// BreakCompacted: etcd compacted past the revision read up to, so the
	// changes in between can no longer be read.
	BreakCompacted = "compacted"
	// BreakGap: a revision went missing from what etcd sent.
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

// Follow writes the delta chain of full snapshot snap: it reads etcd's
// changes from revision from+1, in batches every drainEvery (a watch
// opened from the next revision and closed once it reached the revision
// etcd reported), and commits a segment every Interval, until ctx
// ends (it then commits what it holds, within a few seconds, and returns
// nil) or the chain cannot go on (a *ChainBreak). from is a revision the
// snapshot's database is known to hold (snapshot.Result.StatusRevision):
// a replay skips the changes the database already has.
//
// A read that fails for any other reason (etcd restarted, a connection
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
		prevSHA: snap.StoredSHA256, nextFirst: from + 1, lastRev: from, zw: segmentZstd(), lastCut: o.Now()}
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
	// limit is the newest revision to take, 0: none (a bridge ends at
	// the next chain's start).
	limit int64

	// The open segment: nil until its first change (segment).
	enc                     *encoder
	zw                      *zstd.Encoder // reset for each segment (segmentZstd)
	events, revisions       int
	firstChange, lastChange time.Time
	heard                   time.Time // every change committed by then is read
	clock                   clock
	failures                int // drains failed in a row
	lastCut                 time.Time

	recv         rawMessage // the watch's last answer
	partial      []rawEvent // a revision begun in a fragment, not yet whole
	pending      []*cut     // cut, not yet committed, oldest first
	pendingBytes int64
	spare        []byte // the last committed segment's buffer, for the next one
	// After a failed commit: the error, and when to try again (an
	// interval later; ticks before then only cut).
	commitErr error
	retryAt   time.Time
}

type cut struct {
	m    *Manifest
	data []byte
}

// drainEvery is how often the writer reads what etcd committed since it
// last looked (at most delta.interval). Reading in batches is what keeps
// the agent cheap for etcd: a watch that follows every write live makes
// etcd send one message per revision, which cost a busy 2-core etcd about
// a fifth of its write throughput (make bench, issue 11); a watch opened
// from a past revision is answered with up to 1,000 revisions a message.
// The clock still dates every change to within clockEvery.
const drainEvery = time.Second

// drainFloor is the least time one drain may take (see drain); a var for
// the test of a backlog longer than a drain.
var drainFloor = 5 * time.Second

func (w *writer) run(ctx context.Context) error {
	cctx, stopClock := context.WithCancel(ctx)
	defer stopClock()
	go w.clock.run(cctx, w.cli, w.o.Now)

	every := min(drainEvery, w.o.Interval)
	perCommit := max(1, int(w.o.Interval/every))
	tick := time.NewTicker(every)
	defer tick.Stop()
	retry := time.Time{} // after a failed read: not before then
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return w.stop()
		case <-tick.C:
		}
		if !w.o.Now().Before(retry) {
			err := w.drain(ctx)
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
			if err != nil {
				// etcd restarted or a connection dropped: read on from the
				// next revision, no change is lost as long as etcd has not
				// compacted it away.
				w.failures++
				wait := min(time.Duration(1<<min(w.failures-1, 4))*time.Second, 10*time.Second)
				w.log.Warn("reading etcd's changes failed; resuming", "from_revision", w.lastRev+1, "in", wait, "err", err)
				retry = w.o.Now().Add(wait)
			} else {
				w.failures = 0
			}
		}
		if n%perCommit == 0 {
			if err := w.commit(ctx); err != nil {
				return err
			}
		}
	}
}

// drain reads every change etcd committed since the last one read: it asks
// etcd for its revision, then watches from the next revision until it
// reached that one. What was read is kept even when the drain fails part
// way: whole revisions only, the next drain goes on after them.
//
// A drain is bounded by max(Interval, 5 s), so that an etcd that stopped
// answering does not hold back the commits of what was read. A backlog is
// not such a failure: etcd answers a watch from a past revision with at
// most 1,000 revisions every 100 ms, so after an outage, a restart's
// catch-up or a stalled agent, 100k revisions take more than 10 s. A
// drain that ran out of time having read something returns nil without
// moving heard, and the next tick reads on at once; counted as a failure
// it made the writer wait 1, 2, 4… s between reads, and at 6,000 writes/s
// it never caught up.
func (w *writer) drain(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, max(w.o.Interval, drainFloor))
	defer cancel()
	asked := w.o.Now()
	target, err := w.clock.ask(dctx, w.cli, w.o.Now)
	if err != nil {
		return err
	}
	from := w.lastRev
	for w.lastRev < target {
		if err := w.read(dctx, target); err != nil {
			// etcd may end the stream at the deadline (it has it from
			// the request) a moment before dctx's own timer fires.
			timedOut := dctx.Err() == context.DeadlineExceeded || status.Code(err) == codes.DeadlineExceeded
			if timedOut && ctx.Err() == nil && w.lastRev > from && !isBreak(err) {
				w.log.Debug("reading a backlog: what this read reached is kept, the next goes on", "last_revision", w.lastRev, "target", target)
				return nil
			}
			return err
		}
		if w.full() {
			if err := w.commit(ctx); err != nil {
				return err
			}
		}
	}
	// Linearizable: every change committed before asked is at or below
	// target, and so is now read.
	w.heard = asked
	return nil
}

// isBreak reports whether err ends the chain (a *ChainBreak).
func isBreak(err error) bool {
	var brk *ChainBreak
	return errors.As(err, &brk)
}

// read consumes a watch from the next revision until target was read or
// the open segment is full. The watch is closed before the segment is
// committed: etcd's client would otherwise go on receiving and buffering
// etcd's answers, without bound, while the upload runs.
func (w *writer) read(ctx context.Context, target int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer w.recv.trim()
	watch, err := openRawWatch(ctx, w.cli, w.lastRev+1, &w.recv)
	if err != nil {
		return err
	}
	dates := w.clock.dates(w.lastRev)
	w.partial = nil
	for w.lastRev < target {
		a, err := watch.next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if a.compactRevision != 0 {
			return &ChainBreak{BreakCompacted, fmt.Errorf("etcd compacted revision %d, past the chain's next revision %d", a.compactRevision, w.lastRev+1)}
		}
		if a.canceled {
			return fmt.Errorf("watch cancelled by etcd: %s", a.cancelReason)
		}
		if err := w.add(a.events, a.fragment, dates, w.o.Now()); err != nil {
			return err
		}
		if w.full() {
			return nil
		}
		if err := w.checkHeld(); err != nil {
			return err
		}
	}
	return nil
}

// add appends one watch answer's events, grouped by revision. etcd bumps
// the revision only for a transaction that changed something, so the
// revisions must follow each other without a hole. An answer that is a
// fragment may end inside a revision: its last revision is kept aside
// (copied: the answer's buffer is reused) until the next piece completes
// it.
func (w *writer) add(events []rawEvent, fragment bool, dates *dater, arrived time.Time) error {
	if len(w.partial) > 0 {
		events = append(w.partial, events...)
		w.partial = nil
	}
	if fragment && len(events) > 0 {
		last := len(events)
		for last > 0 && events[last-1].revision == events[len(events)-1].revision {
			last--
		}
		for _, ev := range events[last:] {
			w.partial = append(w.partial, rawEvent{revision: ev.revision, data: bytes.Clone(ev.data)})
		}
		events = events[:last]
	}
	// A full segment takes no more: read stops, and what this answer holds
	// past it is read again by the next watch, from lastRev+1.
	for i := 0; i < len(events) && !w.full(); {
		rev := events[i].revision
		j := i
		for j < len(events) && events[j].revision == rev {
			j++
		}
		if rev <= w.lastRev {
			i = j // seen before the watch (re)started
			continue
		}
		if w.limit > 0 && rev > w.limit {
			break
		}
		if rev != w.lastRev+1 {
			return &ChainBreak{BreakGap, fmt.Errorf("the watch delivered revision %d after %d", rev, w.lastRev)}
		}
		seen := dates.of(rev, arrived)
		w.segment().add(seen, events[i:j])
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

// segment is the open segment, started on its first change in the buffer
// of the segment committed last. Started then rather than when the last
// one was cut, the writer holds one segment buffer, not two, whenever the
// store keeps up: commit cuts and uploads before the next change is read.
// Its buffer is sized for a whole segment (newEncoder), so an agent and a
// bridge following etcd side by side after a handover held four, about
// 18 MiB, and its peak RSS passed 64 MiB (make bench, issue 11).
func (w *writer) segment() *encoder {
	if w.enc == nil {
		w.enc, w.spare = newEncoder(w.spare, w.zw), nil
	}
	return w.enc
}

// full reports that the open segment should be cut now.
func (w *writer) full() bool { return w.enc != nil && w.enc.full(w.o.MaxBytes) }

// cut closes the open segment into the pending list. A segment without
// events is cut only when etcd answered since the last one: it records
// that nothing changed up to then (the RPO of an idle etcd stays low).
func (w *writer) cut() {
	if w.revisions == 0 && !w.heard.After(w.lastCut) {
		return
	}
	enc := w.segment()
	data := enc.finish()
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
		RawSize:       enc.raw,
		StoredSize:    int64(len(data)),
		SHA256:        hex.EncodeToString(sum[:]),
		PrevSHA256:    w.prevSHA,
		ToolVersion:   buildinfo.Version,
	}
	w.pending = append(w.pending, &cut{m: m, data: data})
	w.pendingBytes += int64(len(data))
	w.prevSHA, w.nextFirst = m.SHA256, w.lastRev+1
	w.enc, w.events, w.revisions = nil, 0, 0
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
	held := w.pendingBytes
	if w.enc != nil {
		held += int64(w.enc.buf.Len())
	}
	if held > w.o.MaxBytes {
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
		w.spare = c.data
		w.log.Debug("delta segment committed", "segment", c.m.Name(), "events", c.m.Events, "bytes", c.m.StoredSize)
		if w.o.OnCommit != nil {
			w.o.OnCommit(c.m)
		}
	}
	return nil
}

// stop commits what is held when the agent stops (SIGTERM), within a few
// seconds: a clean stop loses nothing etcd committed before it.
func (w *writer) stop() error {
	// A last read first, so a clean stop also keeps what etcd committed
	// since the last drain (best effort: etcd may be what is stopping).
	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := w.drain(dctx); err != nil {
		w.log.Debug("last read before stopping incomplete", "last_revision", w.lastRev, "err", err)
	}
	dcancel()
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
