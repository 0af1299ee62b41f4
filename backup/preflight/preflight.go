// Package preflight checks an etcd member's data dir before etcd starts on
// it (ExecStartPre of etcd's own unit): the bbolt database must be there,
// whole and structurally sound, and not older than the newest committed
// backup by more than a threshold. The last is gardener
// etcd-backup-restore's stale-data check: an old disk (a volume restored
// from a week-old cloud snapshot, a member that was down for days in a
// single-member cluster) must not silently come back as the cluster.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// DefaultMaxRevisionLag is how far (in revisions) a member may be behind
// the newest backup. A member that was stopped cleanly is at or past the
// newest backup (backups are taken from the cluster it served); a
// follower stopped a moment behind its leader lags by a handful. An old
// disk lags by its downtime times the write rate: a Kubernetes cluster
// writes tens to hundreds of revisions a second (leases, events), so 1000
// is seconds to a minute of writes.
const DefaultMaxRevisionLag = 1000

// Kind is what is wrong with a data dir; the CLI maps it to an exit code.
type Kind string

const (
	// Missing: the member has a data dir but no database.
	Missing Kind = "missing"
	// Corrupt: the database is truncated or damaged.
	Corrupt Kind = "corrupt"
	// Stale: the database is older than the newest backup by more than
	// the threshold (or empty while backups exist).
	Stale Kind = "stale"
)

// Problem is a reason to refuse starting etcd.
type Problem struct {
	Kind Kind
	Msg  string
}

func (p *Problem) Error() string { return p.Msg }

// Options say what to check.
type Options struct {
	DataDir string
	// Store and Cluster locate the backups for the lag check; a nil Store
	// skips it (the report says so).
	Store   store.Store
	Cluster string
	// StoreError is why the configured store could not be opened (a file
	// store's missing directory): the lag check fails open, as for a store
	// that does not answer, with a warning.
	StoreError error
	// StoreTimeout bounds the lag check's listing of the store (0: ctx
	// alone); the database itself is read for as long as it takes.
	StoreTimeout time.Duration
	// MaxRevisionLag is the allowed lag behind the newest backup.
	MaxRevisionLag int64
	// Etcd is how to reach the other members (TLS, and endpoints besides
	// the client URLs the database lists) to ask whether the cluster has a
	// quorum when the member is behind; nil: not asked, a member behind is
	// refused.
	Etcd *clientv3.Config
	// EtcdError is why the etcd client configuration could not be loaded
	// (a TLS file missing or unreadable): the other members are not asked.
	EtcdError error
	// PeerTimeout bounds that question (DefaultPeerTimeout when 0).
	PeerTimeout time.Duration
	// AllowEmpty accepts a data dir without a member (a member's first
	// start) even when backups exist: a member being added to a running
	// cluster gets its data from the leader.
	AllowEmpty bool
}

// Report is what the preflight found.
type Report struct {
	DB              string
	Size            int64
	PageSize        uint32
	TxID            uint64
	Revision        int64 // the newest revision in the key bucket
	CompactRevision int64 // finished compaction, 0 when none
	// ScheduledCompactRevision is a compaction etcd will finish when it
	// starts: a restore marked compacted (--mark-compacted) schedules one
	// at the bumped revision.
	ScheduledCompactRevision int64
	ConsistentIndex          uint64
	Term                     uint64 // raft term of the entry at ConsistentIndex
	Keys                     int64  // key revisions stored (history included)
	// Newest is the newest committed snapshot, nil when unchecked or none;
	// NewestRevision the newest revision the backups restore (its own, or
	// its delta chain's end, NewestChain, when that is further).
	Newest         *snapshot.Manifest
	NewestRevision int64
	NewestChain    *delta.Outline
	// Members is the member list the database holds.
	Members []Member
	// Notes are what was skipped and why, and what passed.
	Notes []string
}

// Run checks o.DataDir. It returns a *Problem when etcd must not start on
// it, another error when the check itself failed.
func Run(ctx context.Context, o Options) (*Report, error) {
	r := &Report{DB: filepath.Join(o.DataDir, "member", "snap", "db")}
	fi, err := os.Stat(r.DB)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return r, r.noDatabase(ctx, o)
	case err != nil:
		return r, fmt.Errorf("database %s: %w", r.DB, err)
	case !fi.Mode().IsRegular():
		return r, &Problem{Corrupt, fmt.Sprintf("database %s is not a regular file (%s)", r.DB, fi.Mode().Type())}
	}
	r.Size = fi.Size()
	meta, err := checkFile(r.DB)
	if err != nil {
		return r, &Problem{Corrupt, fmt.Sprintf("database %s is corrupt: %v", r.DB, err)}
	}
	r.PageSize, r.TxID = meta.pageSize, meta.txid
	found, err := inspectInChild(ctx, r.DB)
	if err != nil {
		return r, err
	}
	r.Revision, r.CompactRevision, r.ConsistentIndex, r.Keys = found.Revision, found.CompactRevision, found.ConsistentIndex, found.Keys
	r.ScheduledCompactRevision = found.ScheduledCompactRevision
	r.Members, r.Term = found.Members, found.Term
	return r, r.checkLag(ctx, o)
}

// noDatabase decides about a data dir without a db: a member directory
// without one lost its database; no member directory at all is a
// member's first start, which is refused only while backups exist.
func (r *Report) noDatabase(ctx context.Context, o Options) error {
	member := filepath.Join(o.DataDir, "member")
	if _, err := os.Stat(member); err == nil {
		return &Problem{Missing, fmt.Sprintf("database %s is missing, but %s exists: the member lost its data; restore it from a backup ('etcdguard restore') or remove the member and add it again", r.DB, member)}
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%s holds no member yet: a first start", o.DataDir))
	if o.AllowEmpty {
		r.Notes = append(r.Notes, "an empty data dir is allowed (--allow-empty)")
		return nil
	}
	newest, err := r.newestBackup(ctx, o)
	if err != nil || newest == nil {
		return err
	}
	return &Problem{Stale, fmt.Sprintf("data dir %s is empty, but the store holds backup %s at revision %d: etcd would start a new, empty cluster (or a member without data); restore the backup ('etcdguard restore --data-dir %s'), or pass --allow-empty for a member being added to a running cluster",
		o.DataDir, newest.Name(), newest.Revision, o.DataDir)}
}

// checkLag compares the member's revision with the newest the backups
// restore. A member behind by more than the threshold is refused unless
// the other members answer with a leader: then raft catches it up.
func (r *Report) checkLag(ctx context.Context, o Options) error {
	newest, err := r.newestBackup(ctx, o)
	if err != nil || newest == nil {
		return err
	}
	lag := r.NewestRevision - r.Revision
	if lag <= o.MaxRevisionLag {
		if lag < 0 {
			// A restore's revision bump, or writes since the backup.
			r.Notes = append(r.Notes, fmt.Sprintf("revision %d is %d ahead of %s", r.Revision, -lag, r.newestPoint()))
		} else {
			r.Notes = append(r.Notes, fmt.Sprintf("revision %d is within %d of %s", r.Revision, o.MaxRevisionLag, r.newestPoint()))
		}
		return nil
	}
	behind := fmt.Sprintf("database %s is at revision %d, %d behind %s; more than --max-revision-lag %d", r.DB, r.Revision, lag, r.newestPoint(), o.MaxRevisionLag)
	var others string
	switch {
	case len(r.Members) == 0:
		// Without the list an answer cannot be told to be its cluster's.
		others = "its database lists no members, so none was asked whether the cluster has a leader"
	case len(r.Members) == 1:
		others = "it is the cluster's only member, so nothing would catch it up"
	case o.Etcd == nil && o.EtcdError != nil:
		others = fmt.Sprintf("the other members could not be asked whether they have a leader: %v", o.EtcdError)
	case o.Etcd == nil:
		others = "the other members were not asked whether they have a leader"
	default:
		up, answers := quorumUp(ctx, o, r)
		if up != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("%s, but the cluster has a quorum: %s. The leader catches this member up (raft)", behind, up))
			return nil
		}
		others = fmt.Sprintf("no other member of its %d answered with a leader (%s)", len(r.Members), describeAnswers(answers))
	}
	return &Problem{Stale, fmt.Sprintf("%s, and %s: this looks like an old disk. Restore the backup ('etcdguard restore'), or raise --max-revision-lag if the member is meant to be behind. A member of a multi-member cluster that was down while the others went on is behind too, and passes once the others are up with a leader ('etcdctl endpoint status'); never restore over one member of a running cluster",
		behind, others)}
}

// newestPoint describes the newest point the backups restore.
func (r *Report) newestPoint() string {
	if c := r.NewestChain; c != nil {
		if c.CoveredAt.IsZero() { // a broken chain: restorable up to its gap
			return fmt.Sprintf("the newest backup, the delta chain of %s (revision %d)", c.Snapshot.Name(), c.LastRevision)
		}
		return fmt.Sprintf("the newest backup, the delta chain of %s (revision %d, reached %s)", c.Snapshot.Name(), c.LastRevision, c.CoveredAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("the newest backup %s (revision %d, taken %s)", r.Newest.Name(), r.Newest.Revision, r.Newest.CreatedAt.UTC().Format(time.RFC3339))
}

// newestBackup is the newest committed snapshot (and sets NewestRevision
// and NewestChain: a delta chain reaches seconds before now), or nil with a note when
// there is no store, no snapshot, or the store does not answer.
func (r *Report) newestBackup(ctx context.Context, o Options) (*snapshot.Manifest, error) {
	if o.StoreError != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("WARNING: lag check skipped: %v", o.StoreError))
		return nil, nil
	}
	if o.Store == nil {
		r.Notes = append(r.Notes, "lag check skipped: no store configured (--config, ETCDGUARD_CONFIG or --store-url)")
		return nil, nil
	}
	if o.StoreTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.StoreTimeout)
		defer cancel()
	}
	l, err := snapshot.List(ctx, o.Store, o.Cluster)
	if err != nil {
		// Fail open: an S3 outage must not keep etcd down after a reboot.
		r.Notes = append(r.Notes, fmt.Sprintf("WARNING: lag check skipped: cannot list the backups of %q in %s: %v", o.Cluster, o.Store, err))
		return nil, nil
	}
	if len(l.Snapshots) == 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("lag check skipped: %s holds no committed backup of %q", o.Store, o.Cluster))
		return nil, nil
	}
	r.Newest = l.Snapshots[0]
	rev, chain, err := delta.NewestPoint(ctx, o.Store, l.Snapshots)
	if err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("WARNING: compared with the newest snapshot only: %v", err))
	}
	r.NewestRevision, r.NewestChain = rev, chain
	return r.Newest, nil
}
