package restore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"go.etcd.io/etcd/client/pkg/v3/types"
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/k8sguard/k8sguard/backup/internal/durable"
	"github.com/k8sguard/k8sguard/backup/internal/workdir"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// etcdutl's defaults, so a single-member restore needs only a data dir.
const (
	DefaultName    = "default"
	DefaultPeerURL = "http://localhost:2380"
)

// walReserve is what etcd writes next to the .db on restore: a
// preallocated 64 MiB WAL segment and a raft snapshot, with room to spare.
const walReserve = 80 << 20

// Options say where and as which member a snapshot is restored.
type Options struct {
	DataDir string // required; must be empty or missing unless Force
	// Name, InitialCluster, PeerURLs and InitialClusterToken are etcd's
	// --name, --initial-cluster, --initial-advertise-peer-urls and
	// --initial-cluster-token. PeerURLs defaults to Name's entry in
	// InitialCluster; InitialCluster to Name=PeerURLs.
	Name                string
	InitialCluster      string
	PeerURLs            []string
	InitialClusterToken string
	// RevisionBump raises the restored revision by this much and marks the
	// new revision compacted, so that clients which saw revisions after
	// the snapshot relist instead of resuming stale watches (see
	// DeriveBump); 0 keeps the snapshot's revision.
	RevisionBump uint64
	// Force moves a non-empty DataDir aside (DataDir.etcdguard-moved-<time>)
	// once the new one is ready; nothing is ever deleted.
	Force bool
	// Logger receives etcdutl's logs; nil discards them.
	Logger *zap.Logger
	// Replay, when set, makes this a point-in-time restore: the plan's
	// segments are replayed into the snapshot's database (see Replay)
	// before etcdutl restores it. Its Snapshot must be the one restored.
	Replay *Plan
}

// DefaultClusterToken is the restored cluster's --initial-cluster-token
// when none is given: etcd derives the cluster and member IDs from it, so
// it is new for every snapshot (members of the old cluster, or of a restore
// of another snapshot, cannot join) and the same on every member that
// restores this snapshot. etcd's own default, "etcd-cluster", is what most
// clusters already run with.
func DefaultClusterToken(m *snapshot.Manifest) string { return "etcdguard-restore-" + m.Name() }

// Member is one entry of --initial-cluster.
type Member struct {
	Name     string
	PeerURLs []string
}

// Result describes a finished restore.
type Result struct {
	Manifest   *snapshot.Manifest
	DataDir    string
	MovedAside string // where a previous DataDir went (Force), or ""
	Checked    *Checked
	Members    []Member // the whole initial cluster, this member included
	Options    Options  // as normalised (defaults filled in)
	// Download covers download, decompression and verification, which
	// happen in one stream; Restore is etcdutl's part.
	Download, Restore time.Duration
	// Replayed is the point-in-time part (Options.Replay); nil without.
	Replayed *Replayed
	// Leftovers are the work dirs of interrupted restores into the same
	// data dir, removed before this one started.
	Leftovers []string
}

// Normalize fills in etcdutl's defaults and checks that the member is part
// of the initial cluster with the same peer URLs, before anything is
// downloaded.
func (o *Options) Normalize() ([]Member, error) {
	if o.DataDir == "" {
		return nil, errors.New("a data dir is required (--data-dir): the directory etcd will be started with")
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.RevisionBump > MaxBump {
		return nil, fmt.Errorf("a revision bump of %d is more than %d: it could overflow etcd's int64 revisions", o.RevisionBump, MaxBump)
	}
	if o.InitialCluster == "" {
		peers := o.PeerURLs
		if len(peers) == 0 {
			peers = []string{DefaultPeerURL}
		}
		parts := make([]string, len(peers))
		for i, u := range peers {
			parts[i] = o.Name + "=" + u
		}
		o.InitialCluster = strings.Join(parts, ",")
	}
	urls, err := types.NewURLsMap(o.InitialCluster)
	if err != nil {
		return nil, fmt.Errorf("--initial-cluster %q: %w", o.InitialCluster, err)
	}
	mine, ok := urls[o.Name]
	if !ok {
		return nil, fmt.Errorf("--name %q is not a member of --initial-cluster %q", o.Name, o.InitialCluster)
	}
	if len(o.PeerURLs) == 0 {
		o.PeerURLs = mine.StringSlice()
	}
	peers, err := types.NewURLs(o.PeerURLs)
	if err != nil {
		return nil, fmt.Errorf("--initial-advertise-peer-urls %q: %w", strings.Join(o.PeerURLs, ","), err)
	}
	if !slices.Equal(peers.StringSlice(), mine.StringSlice()) {
		return nil, fmt.Errorf("--initial-advertise-peer-urls %s do not match %s's entry in --initial-cluster (%s)", peers, o.Name, mine)
	}
	members := make([]Member, 0, len(urls))
	for name, u := range urls {
		members = append(members, Member{Name: name, PeerURLs: u.StringSlice()})
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	return members, nil
}

// Restore streams the snapshot m describes from s into a temp file beside
// the target, verifies it on the way (see Stream), restores it with
// etcdutl into a temp data dir and renames that into place. The target is
// touched only after everything else succeeded.
func Restore(ctx context.Context, s store.Store, m *snapshot.Manifest, o Options) (*Result, error) {
	members, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	target, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", o.DataDir, err)
	}
	if o.InitialClusterToken == "" {
		o.InitialClusterToken = DefaultClusterToken(m)
	}
	res := &Result{Manifest: m, DataDir: target, Members: members, Options: o}

	if res.Leftovers, err = removeInterrupted(target); err != nil {
		return nil, err
	}
	state, err := inspectTarget(target)
	if err != nil {
		return nil, err
	}
	if state.nonEmpty && !o.Force {
		return nil, fmt.Errorf("data dir %s is not empty (%s); refusing to overwrite it: restore into an empty or new directory, or pass --force to move it aside to %s.etcdguard-moved-<time> (nothing is deleted)",
			target, state.summary(), target)
	}
	if state.nonEmpty {
		if err := refuseNotADataDir(target, state); err != nil {
			return nil, err
		}
		if err := refuseLiveMember(target); err != nil {
			return nil, err
		}
	}
	if state.nonEmpty && state.mountPoint {
		return nil, fmt.Errorf("data dir %s is a mount point and not empty (%s), so it cannot be moved aside: move its contents elsewhere on that volume, then restore again", target, state.summary())
	}

	// The work dir holds the downloaded .db and the restored data dir; it
	// sits on the target's filesystem so the final step is a rename.
	// An existing empty target (often a mount point) holds it itself.
	workParent := filepath.Dir(target)
	if state.exists && !state.nonEmpty {
		workParent = target
	}
	if err := os.MkdirAll(workParent, 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", target, err)
	}
	if err := CheckFreeSpace(workParent, m); err != nil {
		return nil, err
	}
	wd, err := workdir.New(workParent, workPrefix(target))
	if err != nil {
		return nil, fmt.Errorf("restore work dir: %w", err)
	}
	defer wd.Remove() // only ever our own temp files
	work := wd.Path

	start := time.Now()
	dbPath := filepath.Join(work, "snapshot.db")
	checked, err := Download(ctx, s, m, dbPath)
	res.Checked = checked
	res.Download = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("refusing to restore %s into %s (left untouched): %w", m.Name(), target, err)
	}

	lg := o.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	if o.Replay != nil {
		// Replayed into the .db before etcdutl restores it, so that
		// etcdutl's own steps apply to the replayed revisions.
		res.Replayed, err = Replay(ctx, s, dbPath, o.Replay, lg)
		if err != nil {
			return res, fmt.Errorf("refusing to restore %s to %s into %s (left untouched): %w", m.Name(), o.Replay.Point, target, err)
		}
	}

	start = time.Now()
	restored := filepath.Join(work, "data")
	err = etcdutl.NewV3(lg).Restore(etcdutl.RestoreConfig{
		SnapshotPath:        dbPath,
		Name:                o.Name,
		OutputDataDir:       restored,
		PeerURLs:            o.PeerURLs,
		InitialCluster:      o.InitialCluster,
		InitialClusterToken: o.InitialClusterToken,
		// Stream already checked etcd's trailing hash over exactly these
		// bytes; checking again would read the whole file once more.
		SkipHashCheck: true,
		RevisionBump:  o.RevisionBump,
		MarkCompacted: o.RevisionBump > 0,
	})
	res.Restore = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("etcdutl restore of %s (data dir %s left untouched): %w", m.Name(), target, err)
	}
	if err := os.Remove(dbPath); err != nil {
		return res, fmt.Errorf("remove %s: %w", dbPath, err)
	}

	aside, err := place(restored, target, state)
	res.MovedAside = aside
	if err != nil {
		return res, err
	}
	return res, nil
}

// Download streams the snapshot m describes into a new file at path,
// verifying it on the way (see Stream).
func Download(ctx context.Context, s store.Store, m *snapshot.Manifest, path string) (*Checked, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	defer f.Close()
	w := newAsyncWriter(f)
	checked, err := Stream(ctx, s, m, w)
	if cerr := w.Close(); err == nil && cerr != nil {
		return checked, fmt.Errorf("write %s: %w", path, cerr)
	}
	if err != nil {
		return checked, err
	}
	if err := f.Close(); err != nil {
		return checked, fmt.Errorf("write %s: %w", path, err)
	}
	return checked, nil
}

// place moves the restored data dir to target: by renaming the directory
// (target missing or moved aside) or, for an existing empty target, by
// renaming its "member" directory into it.
func place(restored, target string, state targetState) (aside string, err error) {
	switch {
	case state.exists && !state.nonEmpty:
		if err := os.Rename(filepath.Join(restored, "member"), filepath.Join(target, "member")); err != nil {
			return "", fmt.Errorf("move restored data into %s: %w", target, err)
		}
		return "", durable.SyncDir(target)
	case state.nonEmpty:
		aside = fmt.Sprintf("%s.etcdguard-moved-%s", target, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(target, aside); err != nil {
			return "", fmt.Errorf("move %s aside to %s: %w", target, aside, err)
		}
		if err := os.Rename(restored, target); err != nil {
			if back := os.Rename(aside, target); back != nil {
				return aside, fmt.Errorf("move restored data to %s: %w (and moving the old data dir back from %s failed: %v)", target, err, aside, back)
			}
			return "", fmt.Errorf("move restored data to %s (old data dir put back): %w", target, err)
		}
	default:
		if err := os.Rename(restored, target); err != nil {
			return "", fmt.Errorf("move restored data to %s: %w", target, err)
		}
	}
	return aside, durable.SyncDir(filepath.Dir(target))
}

type targetState struct {
	exists, nonEmpty, mountPoint bool
	entries                      []string
}

func (s targetState) summary() string {
	const show = 3
	if len(s.entries) <= show {
		return "holds " + strings.Join(s.entries, ", ")
	}
	return fmt.Sprintf("holds %s and %d more", strings.Join(s.entries[:show], ", "), len(s.entries)-show)
}

// ignorable entries do not make a data dir non-empty: a fresh ext4 volume
// mounted at the data dir has lost+found.
var ignorable = map[string]bool{"lost+found": true}

func inspectTarget(dir string) (targetState, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return targetState{}, nil
	}
	if err != nil {
		return targetState{}, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return targetState{}, fmt.Errorf("data dir %s exists and is not a directory; refusing to touch it", dir)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return targetState{}, fmt.Errorf("data dir %s: %w", dir, err)
	}
	st := targetState{exists: true}
	for _, de := range des {
		if !ignorable[de.Name()] {
			st.entries = append(st.entries, de.Name())
		}
	}
	st.nonEmpty = len(st.entries) > 0
	if pfi, err := os.Stat(filepath.Dir(dir)); err == nil {
		st.mountPoint = device(fi) != device(pfi)
	}
	return st, nil
}

// refuseLiveMember refuses a data dir an etcd is running on: etcd holds an
// exclusive flock on its bbolt database for as long as it runs, so a
// shared one that cannot be taken means --force would move the dir out
// from under a live member (which goes on writing into the moved dir).
func refuseLiveMember(dir string) error {
	db := filepath.Join(dir, "member", "snap", "db")
	f, err := os.Open(db)
	if err != nil {
		return nil // no database: nothing runs on it
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("data dir %s is in use: %s is locked, so an etcd is running on it; stop etcd (every member) before restoring, then restore again", dir, db)
	}
	return nil // closing f releases the lock
}

// refuseNotADataDir refuses to move aside a directory that is not an etcd
// data dir (it has no member/): --force on a mistyped path, /var/lib say,
// would move it away and put the restored member in its place.
func refuseNotADataDir(dir string, state targetState) error {
	if fi, err := os.Stat(filepath.Join(dir, "member")); err == nil && fi.IsDir() {
		return nil
	}
	return fmt.Errorf("data dir %s is not empty (%s) and is not an etcd data dir (it has no member/), so --force will not move it aside: check the path; an etcd data dir holds member/",
		dir, state.summary())
}

// workPrefix names a restore's work dir (see Restore), so that the next
// restore into target finds what an interrupted one left.
func workPrefix(target string) string { return "." + filepath.Base(target) + ".etcdguard-restore-" }

// removeInterrupted removes the work dirs a killed restore into target
// left, inside target (an existing empty one, a mount point say, holds
// its own) and beside it: they hold a downloaded snapshot, often
// gigabytes, and inside target would make the next restore refuse it as
// not empty (and a mount point cannot be moved aside). A restore still
// running holds its own, which stays.
func removeInterrupted(target string) ([]string, error) {
	var removed []string
	for _, dir := range []string{target, filepath.Dir(target)} {
		r, err := workdir.RemoveAbandoned(dir, workPrefix(target))
		removed = append(removed, r...)
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

func device(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
}

// NeededSpace is the free space a restore of m needs on the target's
// filesystem: the downloaded .db, etcdutl's copy of it, and the WAL.
func NeededSpace(m *snapshot.Manifest) uint64 {
	return 2*uint64(m.RawSize) + walReserve
}

// CheckFreeSpace fails when dir's filesystem has less than NeededSpace(m).
func CheckFreeSpace(dir string, m *snapshot.Manifest) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("free space on %s: %w", dir, err)
	}
	free := st.Bavail * uint64(st.Bsize)
	if need := NeededSpace(m); free < need {
		return fmt.Errorf("not enough free space on the filesystem of %s: restoring %s needs %s (the %s snapshot twice while etcdutl copies it, plus the WAL), %s is free",
			dir, m.Name(), humanize.IBytes(need), humanize.IBytes(uint64(m.RawSize)), humanize.IBytes(free))
	}
	return nil
}
