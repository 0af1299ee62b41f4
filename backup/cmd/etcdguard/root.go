package main

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/k8sguard/k8sguard/internal/buildinfo"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "etcdguard",
		Short: "Back up etcd to S3, monitor the backups, restore and drill them",
		Long: `etcdguard streams etcd snapshots to S3 (or a local directory), checks that the
backups are fresh, complete and not suspiciously small, and restores them, in
drills and on the worst day of the year.

It answers Zalando's incident 4: "etcdctl del -r" on a prefix deleted most of a
cluster's registry and there was no recent, monitored backup.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand())
	root.AddCommand(newSnapshotCommand())
	root.AddCommand(newAgentCommand())
	root.AddCommand(newCheckCommand())
	root.AddCommand(newListCommand())
	root.AddCommand(newVerifyCommand())
	root.AddCommand(newRestoreCommand())
	root.AddCommand(newDrillCommand())
	root.AddCommand(newPreflightCommand())
	root.AddCommand(newManCommand())
	withProfiles(root)
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the etcdguard version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "etcdguard %s (%s, %s/%s)\n", buildinfo.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

// exitError carries a specific process exit code (check uses the Nagios
// convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
type exitError struct {
	code int
	err  error
	// reported: the command already said why (check's report on stdout);
	// main only exits with code, adding no line that buries the reason.
	reported bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// silent reports whether err's reason was already reported.
func silent(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.reported
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
