package main

import (
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"

	"github.com/k8sguard/k8sguard/backup/agent"
	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/metrics"
)

func newAgentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Take snapshots on a schedule (long-running, for systemd)",
		Long: `Run as a service: snapshot etcd on the schedule (schedule.interval or
schedule.cron, with jitter), apply retention, and serve Prometheus metrics,
/healthz and /readyz on metrics.listen.

With leader_election: true, every agent of a cluster campaigns in an etcd
election and only the leader uploads; when it dies another takes over within
the lease TTL (10s; a few seconds more when its node also led etcd, whose new
leader renews every lease). The elected agent removes what interrupted snapshots left.

Under systemd (Type=notify) it sends READY=1 once etcd and the store have
answered, STATUS= with the last snapshot, and WATCHDOG=1 from its loop. SIGTERM
aborts an in-flight upload cleanly (nothing half-visible is left) and exits.

Every flag has an environment variable (shown) and a configuration key;
flags win over the environment, which wins over the file.`,
		Example: `  etcdguard agent --config /etc/etcdguard/config.yaml
  systemctl enable --now etcdguard.service`,
		Args: cobra.NoArgs,
	}
	flags := config.BindFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := flags.Resolve()
		if err != nil {
			return err
		}
		ctx := cmd.Context() // ends on SIGTERM/SIGINT (main)
		log := newLogger(cmd).With("cluster", cfg.ClusterName)
		boundMemory()
		a, err := agent.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		a.Metrics = metrics.New(cfg.ClusterName)
		a.Notify = func(state string) {
			if _, err := daemon.SdNotify(false, state); err != nil {
				log.Warn("sd_notify", "err", err)
			}
		}
		watchdog, err := daemon.SdWatchdogEnabled(false)
		if err != nil {
			log.Warn("watchdog settings", "err", err)
		}
		log.Info("agent starting", "store", a.Store.String(), "etcd", cfg.Etcd.Endpoints, "leader_election", cfg.LeaderElection, "watchdog", watchdog.String())
		if err := a.Run(ctx, watchdog); err != nil && ctx.Err() == nil {
			return err
		}
		log.Info("agent stopped")
		return nil
	}
	return cmd
}
