// Package drill proves that a snapshot restores: it restores it into a
// temp dir, starts an embedded etcd on loopback, checks the revision and
// key counts against the manifest and the prefixes the operator expects,
// times every phase (the measured recovery time) and cleans up.
package drill

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/k8sguard/k8sguard/backup/internal/loopback"
	"github.com/k8sguard/k8sguard/backup/internal/workdir"
	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// Phase names, in order; also the phase label of the duration metric.
const (
	PhaseDownload = "download" // download, decompress, sha256 and etcd hash (one stream)
	PhaseReplay   = "replay"   // point-in-time: the delta chain replayed (drill --at)
	PhaseVerify   = "verify"   // bbolt integrity check and revision of the .db
	PhaseRestore  = "restore"  // etcdutl snapshot restore
	PhaseStart    = "start"    // embedded etcd until it serves
	PhaseChecks   = "checks"   // revision and key counts against the manifest
)

// workPrefix names a drill's work dir in the work parent.
const workPrefix = "etcdguard-drill-"

// Phases lists the phases in the order they run.
var Phases = []string{PhaseDownload, PhaseReplay, PhaseVerify, PhaseRestore, PhaseStart, PhaseChecks}

// Options tune Run.
type Options struct {
	// ExpectPrefixes must each hold at least one key in the restored etcd,
	// e.g. "/registry/namespaces/kube-system".
	ExpectPrefixes []string
	// WorkDir is where the temp dir goes (os.TempDir() when empty); it
	// needs restore.NeededSpace free.
	WorkDir string
	// StartTimeout bounds the embedded etcd's start (2 minutes when 0).
	StartTimeout time.Duration
	// RevisionBump restores as `etcdguard restore` does by default: the
	// revision raised by this much and marked compacted (see
	// restore.DeriveBump). The checks then prove both, and count keys at
	// the restored revision (older ones are compacted). 0: no bump.
	RevisionBump uint64
	// Logger receives etcdutl's and the embedded etcd's logs; nil
	// discards them.
	Logger *zap.Logger
	Now    func() time.Time
	// Replay drills a point-in-time restore: the plan's delta segments
	// are replayed into the snapshot (restore.Replay) before it is
	// restored. Its Snapshot is the one drilled.
	Replay *restore.Plan
}

// Timing is how long one phase took.
type Timing struct {
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
}

// Check is one comparison made against the restored etcd.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report is the outcome of a drill.
type Report struct {
	Cluster  string `json:"cluster"`
	Snapshot string `json:"snapshot"` // the data key
	Revision int64  `json:"revision"`
	// RevisionBump is the bump the drill restored with (0: none).
	RevisionBump uint64    `json:"revision_bump,omitempty"`
	Keys         int64     `json:"keys"`
	RawSize      int64     `json:"raw_size"`
	StartedAt    time.Time `json:"started_at"`
	Phases       []Timing  `json:"phases"`
	Checks       []Check   `json:"checks"`
	// Seconds is the whole drill: the recovery time objective measured.
	Seconds float64 `json:"seconds"`
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	// Point, ReplayedEvents and ReplayedTo describe a point-in-time drill
	// (drill --at / --revision): the delta events replayed and the
	// revision they led to.
	Point          string `json:"point,omitempty"`
	ReplayedEvents int    `json:"replayed_events,omitempty"`
	ReplayedTo     int64  `json:"replayed_to_revision,omitempty"`
	// Leftovers are the work dirs of killed drills this one removed.
	Leftovers []string `json:"leftovers,omitempty"`
}

// Duration is the drill's total time.
func (r *Report) Duration() time.Duration { return time.Duration(r.Seconds * float64(time.Second)) }

// Run drills the snapshot m describes. It returns a report in every case;
// the error says why the drill failed (a phase error or failed checks).
func Run(ctx context.Context, s store.Store, m *snapshot.Manifest, o Options) (*Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.RevisionBump > restore.MaxBump {
		return nil, fmt.Errorf("drill of %s: a revision bump of %d is more than %d", m.DataKey, o.RevisionBump, restore.MaxBump)
	}
	r := &Report{Cluster: m.Cluster, Snapshot: m.DataKey, Revision: m.Revision, RevisionBump: o.RevisionBump, Keys: m.Keys, RawSize: m.RawSize, StartedAt: o.Now().UTC()}
	err := r.run(ctx, s, m, o)
	r.Seconds = o.Now().Sub(r.StartedAt).Seconds()
	if err == nil {
		for _, c := range r.Checks {
			if !c.OK {
				err = fmt.Errorf("check %s failed: %s", c.Name, c.Detail)
				break
			}
		}
	}
	r.OK = err == nil
	if err != nil {
		err = fmt.Errorf("drill of %s: %w", m.DataKey, err)
		r.Error = err.Error()
	}
	return r, err
}

func (r *Report) phase(o Options, name string, f func() error) error {
	start := o.Now()
	err := f()
	r.Phases = append(r.Phases, Timing{Phase: name, Seconds: o.Now().Sub(start).Seconds()})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (r *Report) run(ctx context.Context, s store.Store, m *snapshot.Manifest, o Options) error {
	workParent := o.WorkDir
	if workParent == "" {
		workParent = os.TempDir()
	}
	// A killed drill's dir (a snapshot and a data dir) would stay for good;
	// a running drill holds its own, which stays.
	r.Leftovers, _ = workdir.RemoveAbandoned(workParent, workPrefix)
	if err := restore.CheckFreeSpace(workParent, m); err != nil {
		return err
	}
	wd, err := workdir.New(workParent, workPrefix)
	if err != nil {
		return fmt.Errorf("drill work dir: %w", err)
	}
	defer wd.Remove()
	work := wd.Path
	dbPath := filepath.Join(work, "snapshot.db")
	dataDir := filepath.Join(work, "data")

	if err := r.phase(o, PhaseDownload, func() error {
		_, err := restore.Download(ctx, s, m, dbPath)
		return err
	}); err != nil {
		return err
	}
	var replayed *restore.Replayed
	if o.Replay != nil {
		if err := r.phase(o, PhaseReplay, func() error {
			plan := *o.Replay
			plan.CountKeys = true // the checks compare with the replay's counts
			rep, err := restore.Replay(ctx, s, dbPath, &plan, o.Logger)
			if err == nil {
				replayed = rep
				r.Point = o.Replay.Point.String()
				r.ReplayedEvents, r.ReplayedTo = rep.Events, rep.ToRevision
			}
			return err
		}); err != nil {
			return err
		}
	}

	var dbRevision int64
	if err := r.phase(o, PhaseVerify, func() error {
		st, err := etcdutl.NewV3(o.Logger).Status(dbPath)
		if err != nil {
			return fmt.Errorf("bbolt check of %s: %w", m.DataKey, err)
		}
		dbRevision = st.Revision
		return nil
	}); err != nil {
		return err
	}

	// The member's peer URL goes into the restored membership; etcd does
	// not hold it to that when it starts on an existing data dir, so the
	// start may still move to other ports (startOnFreePorts).
	peerURL, err := loopback.FreeURL()
	if err != nil {
		return err
	}
	const member = "drill"
	if err := r.phase(o, PhaseRestore, func() error {
		return etcdutl.NewV3(o.Logger).Restore(etcdutl.RestoreConfig{
			SnapshotPath:        dbPath,
			Name:                member,
			OutputDataDir:       dataDir,
			PeerURLs:            []string{peerURL.String()},
			InitialCluster:      member + "=" + peerURL.String(),
			InitialClusterToken: "etcdguard-drill",
			SkipHashCheck:       true, // the download phase checked it
			RevisionBump:        o.RevisionBump,
			MarkCompacted:       o.RevisionBump > 0,
		})
	}); err != nil {
		return err
	}
	if err := os.Remove(dbPath); err != nil {
		return fmt.Errorf("remove %s: %w", dbPath, err)
	}

	var e *embed.Etcd
	var clientURL url.URL
	if err := r.phase(o, PhaseStart, func() (err error) {
		e, clientURL, err = startOnFreePorts(ctx, dataDir, member, o, loopback.FreeURL)
		return err
	}); err != nil {
		return err
	}
	defer e.Close() // before the deferred RemoveAll of its data dir

	return r.phase(o, PhaseChecks, func() error {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL.String()}, DialTimeout: 10 * time.Second, Logger: o.Logger})
		if err != nil {
			return fmt.Errorf("etcd client: %w", err)
		}
		defer cli.Close()
		want := expected{revision: m.Revision, keys: m.Keys, prefixKeys: m.PrefixKeys, source: "the manifest", revSource: "manifest"}
		if replayed != nil {
			// The replay counted the keys it left in the database; the
			// manifest's counts are the full snapshot's, before the chain.
			want = expected{revision: replayed.ToRevision, keys: replayed.Keys, prefixKeys: replayed.PrefixKeys, source: "the replay", revSource: "replayed to"}
		}
		checks, err := compare(ctx, cli, want, dbRevision, o.RevisionBump, o.ExpectPrefixes)
		r.Checks = checks
		return err
	})
}

// startOnFreePorts starts the drill's etcd on ports from pick, and on
// other ones when a port was taken between pick and etcd binding it: on a
// busy node another process's connection can take a port in that moment,
// and a drill that fails for it pages someone for nothing. It returns the
// client URL etcd serves on.
func startOnFreePorts(ctx context.Context, dataDir, name string, o Options, pick func() (url.URL, error)) (*embed.Etcd, url.URL, error) {
	return loopback.OnFreePorts(pick, func(client, peer url.URL) (*embed.Etcd, error) {
		e, err := startEtcd(ctx, dataDir, name, client, peer, o)
		if errors.Is(err, syscall.EADDRINUSE) {
			o.Logger.Info("a drill port was taken before etcd bound it", zap.Error(err))
		}
		return e, err
	})
}

// startEtcd starts an embedded etcd on dataDir, on loopback only, and
// waits until it serves.
func startEtcd(ctx context.Context, dataDir, name string, client, peer url.URL, o Options) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = dataDir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = name + "=" + peer.String()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(o.Logger)
	// A drill's etcd is thrown away: skipping fsync makes its start and
	// any writes cheaper without changing what is read back.
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd on %s: %w", dataDir, err)
	}
	timer := time.NewTimer(o.StartTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd on %s stopped: %w", dataDir, err)
	case <-timer.C:
		e.Close()
		return nil, fmt.Errorf("etcd on %s did not become ready within %s", dataDir, o.StartTimeout)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
}

// expected is what the restored etcd must hold, before any bump: the
// manifest's revision and counts for a full snapshot, the replay's for a
// point-in-time drill (source names which, in the report).
type expected struct {
	revision   int64
	keys       int64
	prefixKeys map[string]int64
	source     string // whose counts: "the manifest", "the replay"
	revSource  string // whose revision: "manifest", "replayed to"
}

// compare checks the restored etcd against what was expected: its revision
// (and, with a bump, that the revisions before it are compacted), the key
// counts (counted the way the agent counted them) and that every expected
// prefix holds keys. Keys are counted at the expected revision, or at the
// restored one after a bump, which compacted the older ones; both hold
// the same keys.
func compare(ctx context.Context, cli *clientv3.Client, m expected, dbRevision int64, bump uint64, expect []string) ([]Check, error) {
	head, err := cli.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("read restored etcd: %w", err)
	}
	rev := head.Header.Revision
	// The agent records the revision it read just before opening the
	// snapshot stream, so the snapshot holds that revision or a newer one.
	checks := []Check{{
		Name:   "revision",
		OK:     dbRevision >= m.revision && rev == dbRevision+int64(bump),
		Detail: fmt.Sprintf("restored etcd at revision %d, snapshot file %d, %s %d", rev, dbRevision, m.revSource, m.revision),
	}}
	countAt := m.revision
	if bump > 0 {
		checks[0].Detail += fmt.Sprintf(", bumped by %d", bump)
		checks = append(checks, compactedCheck(ctx, cli, rev))
		countAt = rev
	}
	total, prefixes, err := snapshot.CountKeys(ctx, cli, countAt)
	if err != nil {
		return checks, fmt.Errorf("count keys at revision %d: %w", countAt, err)
	}
	checks = append(checks, countCheck("keys", total, m.keys, m.source))
	names := map[string]bool{}
	for p := range prefixes {
		names[p] = true
	}
	for p := range m.prefixKeys {
		names[p] = true
	}
	sorted := make([]string, 0, len(names))
	for p := range names {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	for _, p := range sorted {
		checks = append(checks, countCheck(p, prefixes[p], m.prefixKeys[p], m.source))
	}
	for _, p := range expect {
		n, err := cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithRev(countAt))
		if err != nil {
			return checks, fmt.Errorf("count %s: %w", p, err)
		}
		checks = append(checks, Check{
			Name:   "expect " + p,
			OK:     n.Count > 0,
			Detail: keys(n.Count),
		})
	}
	return checks, nil
}

// compactedCheck proves that a bumped etcd refuses the revision before its
// own as compacted: a watch resumed from a revision a client saw before
// the restore fails, and the client relists.
func compactedCheck(ctx context.Context, cli *clientv3.Client, rev int64) Check {
	c := Check{Name: "compacted"}
	_, err := cli.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly(), clientv3.WithRev(rev-1))
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		c.OK, c.Detail = true, fmt.Sprintf("revision %d and older are compacted: watches from before the restore relist", rev-1)
	case err == nil:
		c.Detail = fmt.Sprintf("revision %d is still readable: watches from before the restore would resume on reused revisions", rev-1)
	default:
		c.Detail = fmt.Sprintf("read at revision %d: %v", rev-1, err)
	}
	return c
}

func countCheck(name string, got, want int64, source string) Check {
	if got == want {
		return Check{Name: name, OK: true, Detail: fmt.Sprintf("%s, as in %s", keys(got), source)}
	}
	return Check{Name: name, Detail: fmt.Sprintf("%s, %s says %d", keys(got), source, want)}
}

func keys(n int64) string {
	if n == 1 {
		return "1 key"
	}
	return fmt.Sprintf("%d keys", n)
}
