package agent

import (
	"context"
	"fmt"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/snapshot"
)

// notBehindBackups is snapshot.Options.AcceptSurvivor for a quorum-lost
// snapshot: it refuses the surviving member picked when it is behind the
// newest point the store's backups restore. Every member is restored from
// that snapshot, so the cluster would lose what the backups still hold;
// restoring from them loses less. A store that cannot be read refuses
// too: whether the member is behind is then unknown.
func (a *Agent) notBehindBackups(ctx context.Context, member string, rev int64) error {
	unknown := func(err error) error {
		return fmt.Errorf("%w: cannot read the store's backups to tell whether member %s (revision %d) is behind them: %v",
			snapshot.ErrQuorumLostRefused, member, rev, err)
	}
	l, err := snapshot.List(ctx, a.Store, a.Config.ClusterName)
	if err != nil {
		return unknown(err)
	}
	if len(l.Snapshots) == 0 {
		a.Log.Info("no backup in the store to compare the surviving member with", "member", member, "revision", rev)
		return nil
	}
	newest := l.Snapshots[0]
	backup, chain, err := delta.NewestPoint(ctx, a.Store, l.Snapshots)
	if err != nil {
		return unknown(err)
	}
	what, restore := "snapshot "+newest.Name(), "etcdguard restore --snapshot "+newest.Name()
	if chain != nil {
		what = "the delta chain of " + chain.Snapshot.Name()
		restore = fmt.Sprintf("etcdguard restore --snapshot %s --revision %d", chain.Snapshot.Name(), backup)
	}
	if rev < backup {
		return fmt.Errorf("%w: member %s is at revision %d, behind the newest backup (revision %d, %s): restoring that loses less; "+
			"restore every member from it instead, %s --data-dir DIR with each member's flags (the restore runbook)",
			snapshot.ErrQuorumLostRefused, member, rev, backup, what, restore)
	}
	a.Log.Info("the surviving member is not behind the newest backup", "member", member, "revision", rev, "newest_backup_revision", backup, "newest_backup", what)
	return nil
}
