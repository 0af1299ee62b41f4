package restore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/pkg/v3/traceutil"
	"go.etcd.io/etcd/server/v3/lease"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.uber.org/zap"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/fanout"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// Point is where a point-in-time restore stops: at a revision (every
// change up to and including it), or at a time (every change the agent
// had seen by then). Exactly one is set.
type Point struct {
	Revision int64
	At       time.Time
}

func (p Point) String() string {
	if p.Revision > 0 {
		return fmt.Sprintf("revision %d", p.Revision)
	}
	return p.At.UTC().Format(time.RFC3339Nano)
}

// includes reports whether change c is at or before the point.
func (p Point) includes(c delta.Change) bool {
	if p.Revision > 0 {
		return c.Revision <= p.Revision
	}
	return !c.Seen.After(p.At)
}

// reached reports whether segment m covers the point, so that no later
// segment is needed.
func (p Point) reached(m *delta.Manifest) bool {
	if p.Revision > 0 {
		return m.LastRevision >= p.Revision
	}
	return !m.CoveredAt.Before(p.At)
}

// Plan is a point-in-time restore: the newest full snapshot before the
// point and the segments of its delta chain that lead up to it.
type Plan struct {
	Point    Point
	Snapshot *snapshot.Manifest
	Segments []*delta.Manifest
	// CountKeys makes Replay count the keys it leaves (Replayed.Keys and
	// PrefixKeys), for a drill to check the restored etcd against; a
	// restore does not need them and skips the cost.
	CountKeys bool
}

// PlanPoint finds how to restore cluster to p: the newest complete full
// snapshot at or before p, and its chain's segments up to p, every link
// checked. It refuses, naming the link, when the chain breaks before p,
// and says where the restorable window ends when p is past it.
//
// When the newest snapshot's chain does not reach p, an older snapshot's
// chain may: a snapshot taken by hand (`etcdguard snapshot`) while the agent
// runs starts no chain of its own, and the agent's chain, from its own older
// snapshot, goes on past it. Such a chain, whole up to p, is used instead.
func PlanPoint(ctx context.Context, s store.Store, cluster string, p Point) (*Plan, error) {
	if (p.Revision > 0) == !p.At.IsZero() {
		return nil, errors.New("a point in time is a revision or a time, not both")
	}
	l, err := snapshot.List(ctx, s, cluster)
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %q in %s: %w", cluster, s, err)
	}
	var newer *snapshot.Manifest     // the next full snapshot after the chosen one
	var refusal error                // why the newest snapshot before p does not reach it
	var refusedEnd int64             // where that snapshot's chain ends
	var refusedBy *snapshot.Manifest // that snapshot
	var further *delta.Outline       // an older, whole chain that ends later, short of p too
	for _, m := range l.Snapshots {  // newest first
		if p.Revision > 0 && m.Revision > p.Revision || !p.At.IsZero() && m.CreatedAt.After(p.At) {
			newer = m
			continue
		}
		plan := &Plan{Point: p, Snapshot: m}
		if p.Revision == m.Revision {
			return plan, nil // the full snapshot alone
		}
		if refusal != nil && !sameCluster(m, refusedBy) {
			// Another etcd cluster under the same name: the one before
			// a restore without a revision bump numbers the same
			// revisions, and its chain reaches the number, not the
			// state asked for (pin it with --snapshot to mean it).
			continue
		}
		if refusal != nil {
			// An older chain: its outline (a listing and one manifest)
			// says whether it can reach p before every link is read.
			o, err := delta.OutlineOf(ctx, s, m)
			if err != nil {
				return nil, err
			}
			if !p.mayReach(o) {
				if o.Gap == "" && o.LastRevision > refusedEnd && (further == nil || o.LastRevision > further.LastRevision) {
					further = o
				}
				continue
			}
		}
		c, segs, err := p.reach(ctx, s, m)
		if err != nil {
			return nil, err
		}
		if segs != nil {
			plan.Segments = segs
			return plan, nil
		}
		if refusal == nil {
			refusal, refusedEnd, refusedBy = p.notReached(m, c, newer), c.LastRevision(), m
		}
	}
	if further != nil && newer == nil {
		return nil, fmt.Errorf("cannot restore to %s: it is past the newest restorable point: the chain of %s ends at revision %d (%s)",
			p, further.Snapshot.Name(), further.LastRevision, further.CoveredAt.UTC().Format(time.RFC3339))
	}
	if refusal != nil {
		return nil, refusal
	}
	if len(l.Snapshots) == 0 {
		return nil, fmt.Errorf("no complete snapshot of cluster %q in %s", cluster, s)
	}
	oldest := l.Snapshots[len(l.Snapshots)-1]
	return nil, fmt.Errorf("cannot restore to %s: it is before the oldest snapshot %s (revision %d, %s)",
		p, oldest.Name(), oldest.Revision, oldest.CreatedAt.UTC().Format(time.RFC3339))
}

// sameCluster reports whether snapshots a and b are of one etcd cluster:
// the same cluster ID, or either without one (a manifest from before
// etcdguard recorded it).
func sameCluster(a, b *snapshot.Manifest) bool {
	return a.ClusterID == "" || b.ClusterID == "" || a.ClusterID == b.ClusterID
}

// PlanPointFrom plans p from the full snapshot m and its own chain only,
// not from the newest snapshot before p: the other members of a cluster
// are restored with it (restore prints --snapshot with --at/--revision),
// so every member replays the same base and the same chain. From another
// base a member could hold other leases (a replay drops those granted
// after its base) or other revisions, and the members would disagree.
func PlanPointFrom(ctx context.Context, s store.Store, m *snapshot.Manifest, p Point) (*Plan, error) {
	if (p.Revision > 0) == !p.At.IsZero() {
		return nil, errors.New("a point in time is a revision or a time, not both")
	}
	if p.Revision > 0 && m.Revision > p.Revision || !p.At.IsZero() && m.CreatedAt.After(p.At) {
		return nil, fmt.Errorf("cannot restore %s to %s: the snapshot is past it (revision %d, %s); give an older --snapshot, or leave --snapshot out to pick one",
			m.Name(), p, m.Revision, m.CreatedAt.UTC().Format(time.RFC3339))
	}
	plan := &Plan{Point: p, Snapshot: m}
	if p.Revision == m.Revision {
		return plan, nil // the full snapshot alone
	}
	c, segs, err := p.reach(ctx, s, m)
	if err != nil {
		return nil, err
	}
	if segs != nil {
		plan.Segments = segs
		return plan, nil
	}
	if c.Broken != nil {
		return nil, p.notReached(m, c, nil)
	}
	return nil, fmt.Errorf("cannot restore %s to %s: its delta chain ends at revision %d (%s); leave --snapshot out to pick the snapshot whose chain reaches it",
		m.Name(), p, c.LastRevision(), c.CoveredAt().UTC().Format(time.RFC3339))
}

// reach loads the chain of snapshot m up to p: segs are its segments when
// they reach p, nil when it breaks or ends before p (c says which); err is
// the store's failure to say.
func (p Point) reach(ctx context.Context, s store.Store, m *snapshot.Manifest) (c *delta.Chain, segs []*delta.Manifest, err error) {
	c, err = delta.Load(ctx, s, m, p.reached)
	if err != nil {
		return nil, nil, err
	}
	if n := len(c.Segments); n > 0 && p.reached(c.Segments[n-1]) {
		return c, c.Segments, nil
	}
	return c, nil, nil
}

// mayReach reports whether a chain with outline o can reach p: a whole
// chain by its newest segment; a broken one is read link by link.
func (p Point) mayReach(o *delta.Outline) bool {
	switch {
	case o.Segments == 0:
		return false
	case o.Gap != "":
		return p.Revision == 0 || o.GapRevision >= p.Revision
	case p.Revision > 0:
		return o.LastRevision >= p.Revision
	default:
		return !o.CoveredAt.Before(p.At)
	}
}

// notReached says why the chain c of snapshot m (the newest at or before
// p) does not reach p; newer is the next full snapshot, nil when none.
func (p Point) notReached(m *snapshot.Manifest, c *delta.Chain, newer *snapshot.Manifest) error {
	if c.Broken != nil {
		return fmt.Errorf("cannot restore to %s: %w; the chain restores up to revision %d (%s)",
			p, c.Broken, c.LastRevision(), c.CoveredAt().UTC().Format(time.RFC3339))
	}
	end := fmt.Sprintf("the chain of %s ends at revision %d (%s)", m.Name(), c.LastRevision(), c.CoveredAt().UTC().Format(time.RFC3339))
	if newer == nil {
		return fmt.Errorf("cannot restore to %s: it is past the newest restorable point: %s", p, end)
	}
	return fmt.Errorf("cannot restore to %s: %s and the next full snapshot %s starts at revision %d (%s): the chain broke in between",
		p, end, newer.Name(), newer.Revision, newer.CreatedAt.UTC().Format(time.RFC3339))
}

// Replayed is what Replay did.
type Replayed struct {
	Segments int
	Changes  int // revisions applied
	Events   int
	// FromRevision is the database's revision before the replay,
	// ToRevision after it.
	FromRevision, ToRevision int64
	// LastChange is when the agent saw the newest change applied.
	LastChange time.Time
	// Renumbered counts changes whose revision in the result differs from
	// the original's (none when the chain is whole).
	Renumbered int
	// LeasesDropped counts puts whose lease is not in the snapshot: the
	// key is restored without a lease (see Replay).
	LeasesDropped int
	// Keys and PrefixKeys count the keys the replayed database holds, as
	// snapshot.CountKeys counts them (with Plan.CountKeys: what a drill
	// checks the restored etcd against, in place of the full snapshot's
	// manifest).
	Keys       int64
	PrefixKeys map[string]int64
	// Duration is the whole replay; Index the part of it etcd's mvcc
	// store spent reading the snapshot's keys into its index first, and
	// Apply the part spent applying changes (without downloads).
	Duration, Index, Apply time.Duration
}

// EventsPerSecond is the rate at which events were applied.
func (r *Replayed) EventsPerSecond() float64 {
	if r.Apply > 0 {
		return float64(r.Events) / r.Apply.Seconds()
	}
	return 0
}

// Replay applies plan's segments to the etcd snapshot database at dbPath
// (downloaded and verified, not yet restored), offline, through etcd's
// own mvcc store: each original revision becomes one write transaction of
// its puts and deletes, so keys get their create revision, version and
// mod revision as etcd computes them, and revisions come out as in the
// original while the chain is whole. Changes the database already holds
// (the snapshot was taken a moment after the chain's start) are skipped.
//
// Each segment is downloaded whole (at most delta.max_bytes), its size
// and sha256 checked against its manifest, and its revisions against the
// manifest's range, before anything of it is applied: a broken link stops
// the replay with a *delta.BrokenLinkError naming the segment, and the
// caller discards the database.
//
// Leases: etcd's watch carries the lease ID of a put, not the lease
// itself (grants, TTLs and revocations are not revisions). A key keeps
// its lease when that lease exists in the full snapshot; otherwise it is
// restored without a lease and never expires by itself (Kubernetes writes
// events and endpoint leases that way; they are overwritten or collected
// as usual).
func Replay(ctx context.Context, s store.Store, dbPath string, plan *Plan, lg *zap.Logger) (*Replayed, error) {
	start := time.Now()
	if lg == nil {
		lg = zap.NewNop()
	}
	if err := dropTrailer(dbPath); err != nil {
		return nil, err
	}
	bcfg := backend.DefaultBackendConfig(lg)
	bcfg.Path = dbPath
	// The replayed file is a work copy that etcdutl copies (and syncs)
	// into the data dir: fsyncs here would only slow the replay. One
	// commit per second or 100k puts instead of etcd's 100ms / 10k.
	bcfg.UnsafeNoFsync = true
	bcfg.BatchInterval, bcfg.BatchLimit = time.Second, 100_000
	be := backend.New(bcfg)
	le := lease.NewLessor(lg, be, nil, lease.LessorConfig{MinLeaseTTL: 1})
	opened := time.Now()
	kv := mvcc.NewStore(lg, be, le, mvcc.StoreConfig{})
	closeAll := func() error {
		kv.Close()
		le.Stop()
		be.ForceCommit()
		return be.Close()
	}
	r := &Replayed{FromRevision: kv.Rev(), Index: time.Since(opened)}
	err := replaySegments(ctx, s, plan, r, func(c delta.Change) {
		txn := kv.Write(traceutil.TODO())
		for _, ev := range c.Events {
			switch ev.Type {
			case mvccpb.PUT:
				id := lease.LeaseID(ev.Kv.Lease)
				if id != lease.NoLease && le.Lookup(id) == nil {
					id = lease.NoLease
					r.LeasesDropped++
				}
				txn.Put(ev.Kv.Key, ev.Kv.Value, id)
			case mvccpb.DELETE:
				txn.DeleteRange(ev.Kv.Key, nil)
			}
		}
		// The revision this change got, from the transaction itself: the
		// store's Rev() opens a read transaction that copies every write
		// not yet committed to bbolt, which made the replay quadratic.
		rev := txn.Rev()
		if len(txn.Changes()) > 0 {
			rev++
		}
		txn.End()
		if rev != c.Revision {
			r.Renumbered++
		}
	})
	r.ToRevision = kv.Rev()
	if err == nil {
		err = plan.reached(r)
		var past *PastPointError
		if errors.As(err, &past) {
			past.Instead, past.Unknown = olderChainReaching(ctx, s, plan)
		}
	}
	if err == nil && plan.CountKeys {
		r.Keys, r.PrefixKeys, err = snapshot.CountKeysWith(ctx, mvccRanger{kv})
		if err != nil {
			err = fmt.Errorf("count the replayed keys in %s: %w", dbPath, err)
		}
	}
	if cerr := closeAll(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s after replay: %w", dbPath, cerr)
	}
	r.Duration = time.Since(start)
	return r, err
}

// reached refuses a replay that did not end at the point's revision: the
// snapshot's database already held later revisions (etcd 3.6 sends no
// revision with its snapshot stream, so a snapshot is labelled with the
// revision read just before it, and under writes its database holds a few
// more), or the chain stops short of it. etcd numbers every change, so a
// database at another revision is another state than the one asked for.
func (p *Plan) reached(r *Replayed) error {
	want := p.Point.Revision
	switch {
	case want <= 0:
		return nil
	case r.FromRevision > want:
		return &PastPointError{Snapshot: p.Snapshot, Holds: r.FromRevision, Want: want}
	case r.ToRevision < want && r.Renumbered == 0: // renumbered: reported on its own
		return fmt.Errorf("the snapshot %s and its chain restore only up to revision %d, not %d: its delta segments after it are not (yet) in the store",
			p.Snapshot.Name(), r.ToRevision, want)
	}
	return nil
}

// PastPointError is a replay refused because the snapshot's database
// already holds revisions past the point (see Plan.reached).
type PastPointError struct {
	Snapshot    *snapshot.Manifest
	Holds, Want int64
	// Instead is an older snapshot whose delta chain reaches Want
	// exactly (after a handover the new leader's bridge extends the old
	// chain up to the new snapshot's label); nil when none does.
	Instead *snapshot.Manifest
	// Unknown, with Instead nil, is why the store could not say whether
	// an older chain reaches Want.
	Unknown error
}

func (e *PastPointError) Error() string {
	msg := fmt.Sprintf("snapshot %s (labelled revision %d) already holds revision %d, past revision %d: its data was read a moment after its label under writes",
		e.Snapshot.Name(), e.Snapshot.Revision, e.Holds, e.Want)
	if e.Instead == nil && e.Unknown != nil {
		return msg + fmt.Sprintf("; pick a revision at or after %d (whether an older snapshot's chain reaches %d is unknown: %v)", e.Holds, e.Want, e.Unknown)
	}
	if e.Instead == nil {
		return msg + fmt.Sprintf("; pick a revision at or after %d (no older snapshot's chain reaches %d)", e.Holds, e.Want)
	}
	return msg + fmt.Sprintf("; the chain of the older snapshot %s reaches revision %d: give --snapshot %s --revision %d to restore it from there (with that snapshot's leases: a key whose lease was granted after it is restored without one)",
		e.Instead.Name(), e.Want, e.Instead.Name(), e.Want)
}

// olderChainReaching finds, for a plan refused because its snapshot is
// past the point, the newest of the delta.LookBack snapshots before it (of
// the same etcd cluster: its cluster ID) whose chain reaches the point;
// nil when none does. The error says the store could not tell (a failed
// read, a cancelled context): the refusal stands either way, but it must
// not claim that no older chain reaches the point.
func olderChainReaching(ctx context.Context, s store.Store, plan *Plan) (*snapshot.Manifest, error) {
	l, err := snapshot.List(ctx, s, plan.Snapshot.Cluster)
	if err != nil {
		return nil, err
	}
	var unread error // the first chain the store failed to say about
	looked := 0
	for _, m := range l.Snapshots { // newest first
		// Older than the refused snapshot, so before the point (a
		// refusal is of a revision at or past the snapshot's label).
		if m.Revision >= plan.Snapshot.Revision || !sameCluster(m, plan.Snapshot) {
			continue // another etcd cluster under the same name: see PlanPoint
		}
		if looked++; looked > delta.LookBack {
			break
		}
		o, err := delta.OutlineOf(ctx, s, m)
		if err != nil {
			unread = cmp.Or(unread, err)
			continue
		}
		if !plan.Point.mayReach(o) {
			continue
		}
		_, segs, err := plan.Point.reach(ctx, s, m)
		if err != nil {
			unread = cmp.Or(unread, err)
			continue
		}
		if segs != nil {
			return m, nil
		}
	}
	return nil, unread
}

// replaySegments downloads, verifies and decodes plan's segments in order
// and hands every change up to the point that the database does not hold
// yet to apply.
func replaySegments(ctx context.Context, s store.Store, plan *Plan, r *Replayed, apply func(delta.Change)) error {
	if len(plan.Segments) > 0 && plan.Segments[0].FirstRevision > r.FromRevision+1 {
		return &delta.BrokenLinkError{Chain: plan.Snapshot.Name(), Segment: plan.Segments[0].Name(),
			Reason: fmt.Sprintf("the chain starts at revision %d, the snapshot's database holds only up to %d", plan.Segments[0].FirstRevision, r.FromRevision)}
	}
	fetch, stop := fanout.Ordered(ctx, len(plan.Segments), segmentWindow(plan.Segments), func(ctx context.Context, i int) ([]byte, error) {
		return fetchSegment(ctx, s, plan.Snapshot, plan.Segments[i])
	})
	defer stop()
	for _, m := range plan.Segments {
		data, err := fetch()
		if err != nil {
			return err
		}
		var changes []delta.Change
		next, events := m.FirstRevision, 0
		err = delta.Decode(data, func(c delta.Change) error {
			if c.Revision != next {
				return fmt.Errorf("revision %d where %d was due", c.Revision, next)
			}
			next++
			events += len(c.Events)
			changes = append(changes, c)
			return nil
		})
		if err == nil && (next-1 != m.LastRevision || events != m.Events) {
			err = fmt.Errorf("it holds revisions %d-%d and %d events, its manifest says %d-%d and %d", m.FirstRevision, next-1, events, m.FirstRevision, m.LastRevision, m.Events)
		}
		if err != nil {
			return &delta.BrokenLinkError{Chain: plan.Snapshot.Name(), Segment: m.Name(), Reason: err.Error()}
		}
		r.Segments++
		for _, c := range changes {
			if !plan.Point.includes(c) {
				return nil
			}
			if c.Revision <= r.FromRevision {
				continue
			}
			start := time.Now()
			apply(c)
			r.Apply += time.Since(start)
			r.Changes++
			r.Events += len(c.Events)
			r.LastChange = c.Seen
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// segmentBudget bounds the segment data downloaded ahead of the replay.
const segmentBudget = 32 << 20

// segmentWindow is how many segments are downloaded ahead of the one
// being applied: as many of the largest as fit in segmentBudget (a segment
// is at most delta.max_bytes, 64 MiB by default; most are a few hundred
// KiB), at least one, at most fanout.Window. One after another, a store
// round trip per segment (tens of milliseconds on S3; a chain holds one
// segment per 10 s) added seconds to the worst day's restore.
func segmentWindow(segs []*delta.Manifest) int {
	largest := int64(1)
	for _, m := range segs {
		largest = max(largest, m.StoredSize)
	}
	return int(max(1, min(int64(fanout.Window), segmentBudget/largest)))
}

// fetchSegment downloads one segment and checks it against its manifest.
func fetchSegment(ctx context.Context, s store.Store, snap *snapshot.Manifest, m *delta.Manifest) ([]byte, error) {
	rc, err := s.Get(ctx, m.DataKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &delta.BrokenLinkError{Chain: snap.Name(), Segment: m.Name(), Reason: "its data object " + m.DataKey + " is missing"}
	}
	if err != nil {
		return nil, fmt.Errorf("download segment %s: %w", m.DataKey, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	buf.Grow(int(m.StoredSize))
	_, err = io.Copy(&buf, io.LimitReader(rc, m.StoredSize+1))
	sum := sha256.Sum256(buf.Bytes())
	got := hex.EncodeToString(sum[:])
	// A read that fails once every byte arrived, and they are not what the
	// manifest committed, is the SDK finding the object damaged at rest by
	// its stored checksum: a broken link, not a store to retry.
	if err != nil && !(int64(buf.Len()) == m.StoredSize && got != m.SHA256) {
		return nil, fmt.Errorf("download segment %s: %w", m.DataKey, err)
	}
	if got != m.SHA256 || int64(buf.Len()) != m.StoredSize {
		return nil, &delta.BrokenLinkError{Chain: snap.Name(), Segment: m.Name(),
			Reason: fmt.Sprintf("its data (%d bytes, sha256 %s) is not what its manifest committed (%d bytes, sha256 %s)", buf.Len(), got, m.StoredSize, m.SHA256)}
	}
	return buf.Bytes(), nil
}

// dropTrailer cuts the sha256 etcd appends to a snapshot, so that bbolt
// opens the database as a whole number of pages.
func dropTrailer(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size()%512 == sha256.Size {
		if err := os.Truncate(path, fi.Size()-sha256.Size); err != nil {
			return fmt.Errorf("drop the snapshot's sha256 trailer from %s: %w", path, err)
		}
	}
	return nil
}

// mvccRanger ranges over the replay's own mvcc store, at its newest
// revision.
type mvccRanger struct{ kv mvcc.KV }

// rangeEnd maps the client's "\x00" (every key from key on) to the
// mvcc store's spelling of it, an empty end.
func rangeEnd(end string) []byte {
	if end == "\x00" {
		return []byte{}
	}
	return []byte(end)
}

func (m mvccRanger) Count(ctx context.Context, key, end string) (int64, error) {
	r, err := m.kv.Range(ctx, []byte(key), rangeEnd(end), mvcc.RangeOptions{Count: true})
	if err != nil {
		return 0, err
	}
	return int64(r.Count), nil
}

func (m mvccRanger) First(ctx context.Context, key, end string) (string, bool, error) {
	r, err := m.kv.Range(ctx, []byte(key), rangeEnd(end), mvcc.RangeOptions{Limit: 1})
	if err != nil || len(r.KVs) == 0 {
		return "", false, err
	}
	return string(r.KVs[0].Key), true, nil
}
