package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/k8sguard/k8sguard/backup/internal/fanout"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// BrokenLinkError names the first link of a chain that does not hold: a
// missing segment, a manifest that does not follow its predecessor, or
// (found while replaying) data whose sha256 is not the manifest's. Nothing
// after it can be restored; everything before it can.
type BrokenLinkError struct {
	Chain   string // the full snapshot's name
	Segment string // the segment's name, or the missing one's sequence
	Reason  string
}

func (e *BrokenLinkError) Error() string {
	return fmt.Sprintf("delta chain of %s is broken at segment %s: %s", e.Chain, e.Segment, e.Reason)
}

// Chain is what a full snapshot's delta chain holds in the store.
type Chain struct {
	Snapshot *snapshot.Manifest
	// Segments are the committed segments in order, up to the first
	// broken link (or the end).
	Segments []*Manifest
	// Broken is the first link that does not hold; nil when none.
	Broken *BrokenLinkError
	// Orphans are segment data objects without a manifest: a segment
	// whose commit was interrupted (the agent killed mid-upload).
	Orphans []store.Object
	// Listed counts the committed segments listed, including any past a
	// broken link.
	Listed int
}

// StartRevision is the oldest revision the chain can restore to: its full
// snapshot's.
func (c *Chain) StartRevision() int64 { return c.Snapshot.Revision }

// LastRevision is the newest revision the chain restores to.
func (c *Chain) LastRevision() int64 {
	if len(c.Segments) == 0 {
		return c.Snapshot.Revision
	}
	return max(c.Segments[len(c.Segments)-1].LastRevision, c.Snapshot.Revision)
}

// CoveredAt is the newest time the chain restores to.
func (c *Chain) CoveredAt() time.Time {
	if len(c.Segments) == 0 {
		return c.Snapshot.CreatedAt
	}
	return c.Segments[len(c.Segments)-1].CoveredAt
}

type listed struct {
	seq         int
	first, last int64
	data        *store.Object
	manifest    string
}

// scan lists a chain's objects, by sequence.
func scan(ctx context.Context, st store.Store, snap *snapshot.Manifest) ([]*listed, error) {
	objs, err := st.List(ctx, ChainDir(snap))
	if err != nil {
		return nil, fmt.Errorf("list the delta chain of %s: %w", snap.Name(), err)
	}
	bySeq := map[int]*listed{}
	for i, o := range objs {
		seq, first, last, isManifest, ok := parseKey(o.Key)
		if !ok {
			continue
		}
		l := bySeq[seq]
		if l == nil {
			l = &listed{seq: seq, first: first, last: last}
			bySeq[seq] = l
		}
		if isManifest {
			l.manifest = o.Key
		} else {
			l.data = &objs[i]
		}
	}
	out := make([]*listed, 0, len(bySeq))
	for _, l := range bySeq {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out, nil
}

// Load reads the chain of full snapshot snap: every committed segment's
// manifest, in order, checking each link (sequence, revisions, the
// previous sha256) as it goes. It stops reading at the first segment for
// which enough returns true (nil: read all), so a restore to a point
// reads only the manifests it needs (and up to fanout.Window ahead:
// they are read concurrently, checked in order). A broken link is reported in
// Chain.Broken, not as an error: what comes before it is restorable.
func Load(ctx context.Context, st store.Store, snap *snapshot.Manifest, enough func(*Manifest) bool) (*Chain, error) {
	entries, err := scan(ctx, st, snap)
	if err != nil {
		return nil, err
	}
	c := &Chain{Snapshot: snap}
	var committed []*listed
	for _, l := range entries {
		if l.manifest != "" {
			committed = append(committed, l)
		}
	}
	c.Listed = len(committed)
	// Data without a manifest after the last committed segment is an
	// interrupted commit; one before it is a segment whose manifest went
	// missing, which breaks the chain (below).
	lastSeq := 0
	if len(committed) > 0 {
		lastSeq = committed[len(committed)-1].seq
	}
	for _, l := range entries {
		if l.manifest == "" && l.data != nil && l.seq > lastSeq {
			c.Orphans = append(c.Orphans, *l.data)
		}
	}
	readNext, stop := fanout.Ordered(ctx, len(committed), fanout.Window, func(ctx context.Context, i int) (*Manifest, error) {
		var m Manifest
		err := snapshot.ReadJSON(ctx, st, committed[i].manifest, &m)
		return &m, err
	})
	defer stop()
	prevSHA, prevLast := snap.StoredSHA256, int64(-1)
	for i, l := range committed {
		name := SegmentName(l.seq, l.first, l.last)
		brk := func(format string, args ...any) {
			c.Broken = &BrokenLinkError{Chain: snap.Name(), Segment: name, Reason: fmt.Sprintf(format, args...)}
		}
		if l.seq != i+1 {
			c.Broken = &BrokenLinkError{Chain: snap.Name(), Segment: fmt.Sprintf("%06d", i+1),
				Reason: fmt.Sprintf("it is missing (no manifest; the next committed segment is %s)", name)}
			return c, nil
		}
		m, err := readNext()
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				brk("its manifest vanished while reading the chain")
				return c, nil
			}
			var syntax *json.SyntaxError
			var typ *json.UnmarshalTypeError
			if errors.As(err, &syntax) || errors.As(err, &typ) {
				brk("unreadable manifest: %v", err)
				return c, nil
			}
			return nil, err
		}
		switch {
		case m.FormatVersion != FormatVersion || m.Kind != Kind:
			brk("manifest %s is format %d kind %q, this etcdguard reads format %d %q", l.manifest, m.FormatVersion, m.Kind, FormatVersion, Kind)
		case m.Sequence != l.seq || m.FirstRevision != l.first || m.LastRevision != l.last:
			brk("manifest says segment %s, its key says %s", m.Name(), name)
		case m.Snapshot != snap.Name():
			brk("manifest belongs to the chain of %s", m.Snapshot)
		case m.PrevSHA256 != prevSHA:
			brk("its prev_sha256 %s is not the sha256 of the segment before it (%s)", short(m.PrevSHA256), short(prevSHA))
		case prevLast >= 0 && m.FirstRevision != prevLast+1:
			brk("it starts at revision %d, the segment before it ends at %d (a gap)", m.FirstRevision, prevLast)
		case m.LastRevision < m.FirstRevision-1:
			brk("it ends at revision %d before it starts at %d", m.LastRevision, m.FirstRevision)
		case m.DataKey != DataKey(snap, name):
			brk("manifest points at %s, not its own data object", m.DataKey)
		}
		if c.Broken != nil {
			return c, nil
		}
		c.Segments = append(c.Segments, m)
		prevSHA, prevLast = m.SHA256, m.LastRevision
		if enough != nil && enough(m) {
			return c, nil
		}
	}
	return c, nil
}

// Outline is a chain's shape from a listing alone (no manifest is read
// but the newest's): what `etcdguard list` and `check` show for every
// chain without one request per segment.
type Outline struct {
	Snapshot *snapshot.Manifest
	Segments int
	// LastRevision and CoveredAt are the newest committed segment's (the
	// snapshot's own without segments).
	LastRevision int64
	CoveredAt    time.Time
	// Gap names the first missing segment or revision gap, "" when none:
	// the chain restores only up to it.
	Gap string
	// GapRevision is the last revision before the gap.
	GapRevision int64
	Orphans     int
}

// Outline lists the chain of snap and reads its newest segment's manifest.
func OutlineOf(ctx context.Context, st store.Store, snap *snapshot.Manifest) (*Outline, error) {
	entries, err := scan(ctx, st, snap)
	if err != nil {
		return nil, err
	}
	o := &Outline{Snapshot: snap, LastRevision: snap.Revision, CoveredAt: snap.CreatedAt}
	var last *listed
	prevLast := int64(-1)
	for _, l := range entries {
		if l.manifest == "" {
			if l.data != nil {
				o.Orphans++
			}
			continue
		}
		if o.Gap == "" {
			switch {
			case l.seq != o.Segments+1:
				o.Gap = fmt.Sprintf("segment %06d is missing", o.Segments+1)
			case prevLast >= 0 && l.first != prevLast+1:
				o.Gap = fmt.Sprintf("segment %s does not start where the one before it ends (revision %d)", SegmentName(l.seq, l.first, l.last), prevLast)
			}
			if o.Gap != "" {
				o.GapRevision = max(prevLast, snap.Revision)
			}
		}
		if o.Gap == "" {
			prevLast = l.last
		}
		o.Segments++
		last = l
	}
	if last == nil {
		return o, nil
	}
	if o.Gap != "" {
		o.LastRevision = o.GapRevision
		o.CoveredAt = time.Time{} // unknown without reading every manifest
		return o, nil
	}
	var m Manifest
	if err := snapshot.ReadJSON(ctx, st, last.manifest, &m); err != nil {
		return nil, fmt.Errorf("newest segment of the chain of %s: %w", snap.Name(), err)
	}
	o.LastRevision = max(m.LastRevision, snap.Revision)
	o.CoveredAt = m.CoveredAt
	return o, nil
}

// NewestChain is the outline of the newest of snaps (newest first) that
// has a delta chain (committed segments, or a first one being written),
// looking at snapshots only while more(m) holds (nil: all of them); nil
// when none has one. A snapshot taken by hand while the agent runs starts
// no chain, so this can be older than the newest snapshot: the agent's
// chain, which goes on past it.
func NewestChain(ctx context.Context, st store.Store, snaps []*snapshot.Manifest, more func(*snapshot.Manifest) bool) (*Outline, error) {
	for _, m := range snaps {
		if more != nil && !more(m) {
			break
		}
		o, err := OutlineOf(ctx, st, m)
		if err != nil {
			return nil, fmt.Errorf("the delta chain of %s: %w", m.Name(), err)
		}
		if o.Segments > 0 || o.Orphans > 0 {
			return o, nil
		}
	}
	return nil, nil
}

// RecoveryChain is the chain that holds the newest point the store can
// restore to, from snaps (committed snapshots, newest first): the newest
// snapshot's own chain when it has segments; else the newest older chain
// when it is whole and reaches past the newest snapshot (a snapshot taken
// by hand while the agent runs starts no chain, and the agent's chain goes
// on past it; one that ends at the newest snapshot's revision only when
// covered after it was taken: a new leader's bridge ends there, with the
// older chain's coverage time); else the newest snapshot's own, still
// empty, chain. It is
// nil when neither the newest snapshot nor any older one looked at has a
// chain: point-in-time restore is not in use. Older snapshots are looked
// at while more(m) holds (nil: all), the one before the newest always:
// with snapshots from a timer and no agent, none has a chain, and the walk
// must not read them all.
func RecoveryChain(ctx context.Context, st store.Store, snaps []*snapshot.Manifest, more func(*snapshot.Manifest) bool) (*Outline, error) {
	if len(snaps) == 0 {
		return nil, nil
	}
	out, err := OutlineOf(ctx, st, snaps[0])
	if err != nil {
		return nil, fmt.Errorf("the delta chain of %s: %w", snaps[0].Name(), err)
	}
	if out.Segments > 0 {
		return out, nil
	}
	older := snaps[1:]
	if len(older) == 0 {
		return nil, nil
	}
	prev, err := NewestChain(ctx, st, older, func(m *snapshot.Manifest) bool {
		return m == older[0] || more == nil || more(m)
	})
	switch {
	case err != nil:
		return nil, err
	case prev == nil:
		return nil, nil
	case prev.Gap == "" && prev.LastRevision > snaps[0].Revision:
		return prev, nil
	case prev.Gap == "" && prev.LastRevision == snaps[0].Revision && prev.CoveredAt.After(snaps[0].CreatedAt):
		// It reaches the newest snapshot's revision and no further: it
		// is the newer recovery point only when it was covered later
		// (an idle etcd). A bridge up to the snapshot keeps the older
		// coverage time of the chain it extends: the snapshot is newer.
		return prev, nil
	}
	return out, nil
}

// LookBack is how many snapshots before the newest NewestPoint (and a
// new leader's bridge) search for a delta chain that goes on past it: the
// agent's chain continues past snapshots taken by hand, of which a few at
// most lie between two of the agent's; with snapshots from a timer none
// has a chain, and the search must stay a few listings long (the
// preflight runs it at every start of etcd).
const LookBack = 5

// NewestPoint is the newest revision the backups snaps (committed, newest
// first) restore, and the delta chain that reaches it when it goes past
// the newest snapshot (nil: that snapshot is the newest point).
func NewestPoint(ctx context.Context, st store.Store, snaps []*snapshot.Manifest) (int64, *Outline, error) {
	if len(snaps) == 0 {
		return 0, nil, nil
	}
	newest := snaps[0]
	within := map[*snapshot.Manifest]bool{}
	for _, m := range snaps[1:min(len(snaps), 1+LookBack)] {
		within[m] = true
	}
	chain, err := RecoveryChain(ctx, st, snaps, func(m *snapshot.Manifest) bool { return within[m] })
	if err != nil || chain == nil || chain.LastRevision <= newest.Revision {
		return newest.Revision, nil, err
	}
	return chain.LastRevision, chain, nil
}

// Delete removes a chain: every manifest first (so that an interruption
// never leaves a manifest without its data), then the data objects.
func Delete(ctx context.Context, st store.Store, snap *snapshot.Manifest) (int, error) {
	entries, err := scan(ctx, st, snap)
	if err != nil {
		return 0, err
	}
	var manifests, data []string
	for _, l := range entries {
		if l.manifest != "" {
			manifests = append(manifests, l.manifest)
		}
		if l.data != nil {
			data = append(data, l.data.Key)
		}
	}
	// fanout.Window at a time: one DELETE after another was 8 s for a
	// chain of 180 segments at S3's 20 ms a request, and the agent's
	// retention runs under a time limit.
	n, err := deleteAll(ctx, st, manifests)
	if err != nil {
		return n, fmt.Errorf("delete segment manifest: %w", err)
	}
	if _, err := deleteAll(ctx, st, data); err != nil {
		return n, fmt.Errorf("delete segment data: %w", err)
	}
	return n, nil
}

// deleteAll deletes keys, fanout.Window at a time, and says how many it
// deleted.
func deleteAll(ctx context.Context, st store.Store, keys []string) (int, error) {
	var n atomic.Int64
	err := fanout.Each(ctx, len(keys), fanout.Window, func(ctx context.Context, i int) error {
		if err := st.Delete(ctx, keys[i]); err != nil {
			return err
		}
		n.Add(1)
		return nil
	})
	return int(n.Load()), err
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	if sha == "" {
		return "(none)"
	}
	return sha
}

// Cleanup removes, before olderThan and before snapshot.CommitGrace ago,
// what interrupted or half-deleted chains left: segment data objects
// without a manifest after a chain's last committed segment (the agent
// killed mid-commit), and every object of a chain whose full snapshot is
// gone (retention interrupted). Call it only where this process is the
// cluster's elected writer. The grace is for the writer before it: a
// leader that stops resigns at once, and its chain's last segment (data
// stored, manifest on the way) must not be taken for an interrupted
// commit's by the next leader, which cleans up when elected, or the
// manifest written a moment later names nothing.
func Cleanup(ctx context.Context, st store.Store, cluster string, snaps []*snapshot.Manifest, olderThan time.Time) (int, error) {
	olderThan = snapshot.Settled(olderThan)
	objs, err := st.List(ctx, cluster+"/")
	if err != nil {
		return 0, fmt.Errorf("clean up delta chains: %w", err)
	}
	live := map[string]*snapshot.Manifest{}
	for _, s := range snaps {
		live[ChainDir(s)] = s
	}
	lastCommitted := map[string]int{}
	for _, o := range objs {
		if seq, _, _, isManifest, ok := parseKey(o.Key); ok && isManifest {
			dir := o.Key[:strings.LastIndex(o.Key, "/")+1]
			lastCommitted[dir] = max(lastCommitted[dir], seq)
		}
	}
	var orphans []string
	for _, o := range objs {
		i := strings.LastIndex(o.Key, "/")
		dir := o.Key[:i+1]
		if !strings.HasSuffix(dir, ".deltas/") || !o.LastModified.Before(olderThan) {
			continue
		}
		seq, _, _, isManifest, ok := parseKey(o.Key)
		_, chainLive := live[dir]
		if !chainLive || ok && !isManifest && seq > lastCommitted[dir] {
			orphans = append(orphans, o.Key)
		}
	}
	n, err := deleteAll(ctx, st, orphans)
	if err != nil {
		return n, fmt.Errorf("clean up delta chains: %w", err)
	}
	return n, nil
}
