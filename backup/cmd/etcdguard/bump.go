package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/backup/watermark"
)

// bumpHelp is the part of restore's and drill's --help about the bump.
const bumpHelp = `The restored revision is bumped and marked compacted by default (etcdutl's
--bump-revision --mark-compacted). kube-apiserver's watch cache and every
informer remember the last revision (resourceVersion) they saw; after a
plain restore etcd numbers new writes from the snapshot's revision again,
so a watch resumed from a remembered revision silently skips changes and
keeps objects the restore removed. After the bump such a watch fails as
compacted (410 Gone through the API server) and the client relists. The
default amount is derived from the revision watermark the agent records in
the store (every minute and at every snapshot): the revisions recorded
after the snapshot plus the recorded peak write rate times the time since
the record, doubled, and at least 1,000,000,000 (the figure etcd's and
Kubernetes' documentation use; a bump costs nothing, one that is too small
fails silently).`

// bumpFlags are --bump-revision and --no-bump-revision.
type bumpFlags struct {
	amount uint64
	none   bool
	fs     *pflag.FlagSet
}

func bindBumpFlags(fs *pflag.FlagSet) *bumpFlags {
	b := &bumpFlags{fs: fs}
	fs.Uint64Var(&b.amount, "bump-revision", 0, "raise the restored revision by exactly N and mark it compacted, instead of the derived default; give every member of a cluster the same N")
	fs.BoolVar(&b.none, "no-bump-revision", false, "keep the snapshot's revision: only for a copy no client has watched (informers of the old cluster would keep stale objects)")
	return b
}

// resolve returns the bump to restore m with: the flag's, none, or the
// one derived from the cluster's watermark, saying which on w.
func (b *bumpFlags) resolve(ctx context.Context, w io.Writer, st store.Store, cluster string, m *snapshot.Manifest, now time.Time) (uint64, error) {
	explicit := b.fs.Changed("bump-revision")
	switch {
	case explicit && b.none:
		return 0, errors.New("--bump-revision and --no-bump-revision exclude each other")
	case explicit && b.amount == 0:
		return 0, errors.New("--bump-revision 0 is no bump: say --no-bump-revision")
	case explicit && b.amount > restore.MaxBump:
		return 0, fmt.Errorf("--bump-revision %d is more than %d: it could overflow etcd's int64 revisions", b.amount, restore.MaxBump)
	case explicit:
		fmt.Fprintf(w, "revision bump: %d (--bump-revision)\n", b.amount)
		return b.amount, nil
	case b.none:
		fmt.Fprintf(w, "revision bump: none (--no-bump-revision): clients that watched the old cluster must be restarted\n")
		return 0, nil
	}
	wm, err := watermark.Load(ctx, st, cluster)
	if err != nil {
		// The floor still holds; the record only raises the bump.
		fmt.Fprintf(w, "warning: cannot read the revision watermark, deriving the bump without it: %v\n", err)
		wm = nil
	}
	d := restore.DeriveBump(m, wm, now)
	fmt.Fprintf(w, "revision bump: %d (%s)\n", d.Amount, d.Reason)
	return d.Amount, nil
}
