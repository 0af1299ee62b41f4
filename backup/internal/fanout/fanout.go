// Package fanout runs a sequence of store requests concurrently, a
// bounded number at a time. Listing a cluster's snapshots, loading a delta
// chain, replaying it and deleting it each make one request per object;
// one after another, each costs a store round trip (tens of milliseconds
// on S3), and a long chain or a store of many snapshots took seconds to
// minutes.
package fanout

import "context"

// Window is how many requests run at once by default.
const Window = 16

type result[T any] struct {
	v   T
	err error
}

// Ordered calls read(ctx, i) for i in 0..n-1, at most window of them
// running ahead of the caller, and next returns their results in order
// of i (call it at most n times). stop cancels the reads not handed back
// yet; call it when done, also when next was not called n times. A read
// cancelled by stop or by ctx reports ctx's error.
func Ordered[T any](ctx context.Context, n, window int, read func(ctx context.Context, i int) (T, error)) (next func() (T, error), stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	slots := make(chan struct{}, max(window, 1))
	results := make([]chan result[T], n)
	for i := range results {
		results[i] = make(chan result[T], 1) // a read never waits for the caller
	}
	go func() {
		for i := range n {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				for _, r := range results[i:] {
					r <- result[T]{err: ctx.Err()}
				}
				return
			}
			go func() {
				v, err := read(ctx, i)
				results[i] <- result[T]{v, err}
			}()
		}
	}()
	i := 0
	next = func() (T, error) {
		r := <-results[i]
		i++
		select {
		case <-slots: // read i's slot, free for the next read
		default: // cancelled before read i started: it took no slot
		}
		return r.v, r.err
	}
	return next, cancel
}

// Each calls do(ctx, i) for i in 0..n-1, at most window at once, and
// returns the error of the lowest i that failed (nil when none did); the
// calls still running then are cancelled and the rest not started.
func Each(ctx context.Context, n, window int, do func(ctx context.Context, i int) error) error {
	next, stop := Ordered(ctx, n, window, func(ctx context.Context, i int) (struct{}, error) {
		return struct{}{}, do(ctx, i)
	})
	defer stop()
	for range n {
		if _, err := next(); err != nil {
			return err
		}
	}
	return nil
}
