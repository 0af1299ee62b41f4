package delta

import (
	"context"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// manifestWindow is how many manifests Load reads ahead of its link
// check. A chain holds one segment per delta.interval (8,640 a day at
// 10 s) and each manifest is a store round trip (tens of milliseconds on
// S3): read one after another, a point-in-time restore's plan and the
// bridge (bounded to a minute) spent minutes on a long chain.
const manifestWindow = 16

type readManifest struct {
	m   *Manifest
	err error
}

// readAhead reads the manifests under keys concurrently, at most window
// ahead of the caller, and hands them back in key order: next returns
// keys[0]'s, then keys[1]'s, and so on (never more than len(keys) calls).
// stop cancels the reads not yet handed back; call it once done, also
// when next was not called for every key.
func readAhead(ctx context.Context, st store.Store, keys []string, window int) (next func() (*Manifest, error), stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	slots := make(chan struct{}, window)
	results := make([]chan readManifest, len(keys))
	for i := range results {
		results[i] = make(chan readManifest, 1) // a read never waits for the caller
	}
	go func() {
		for i, key := range keys {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				for _, r := range results[i:] {
					r <- readManifest{err: ctx.Err()}
				}
				return
			}
			go func() {
				var m Manifest
				err := snapshot.ReadJSON(ctx, st, key, &m)
				results[i] <- readManifest{&m, err}
			}()
		}
	}()
	i := 0
	next = func() (*Manifest, error) {
		r := <-results[i]
		i++
		<-slots
		return r.m, r.err
	}
	return next, cancel
}
