// Command etcdguard backs etcd up to S3 (or a local directory), watches the
// backups, and restores them: the answer to "etcdctl del -r took the
// cluster down and there was no tested backup" (Zalando incident 4).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/k8sguard/k8sguard/backup/preflight"
	"github.com/k8sguard/k8sguard/backup/store"
)

func main() {
	preflight.ServeChild() // the preflight reads etcd's database in a child process
	// SIGTERM (systemctl stop, a unit's timeout) and Ctrl-C end every
	// command's context: an upload in flight is aborted (never left
	// half-visible, nor open for an hour), a restore's work dir removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	stopProfile()
	if err != nil {
		if !silent(err) {
			fmt.Fprintln(os.Stderr, "etcdguard:", store.Describe(err))
		}
		os.Exit(exitCode(err))
	}
}
