// Package storetest has store helpers for tests: reading an object whole,
// and wrappers for tests of code that spreads its store requests over time
// or over goroutines.
package storetest

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/k8sguard/k8sguard/backup/store"
)

// Slow is a store whose Gets of the keys Match accepts take Delay, as a
// round trip to S3 does, counting them and how many ran at once. A Get of
// the key Failing fails as an unreachable store's does.
type Slow struct {
	store.Store
	Match   func(key string) bool
	Delay   time.Duration
	Failing string

	reads, running atomic.Int64
	mu             sync.Mutex
	most           int64
}

func (s *Slow) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if s.Match(key) {
		s.reads.Add(1)
		n := s.running.Add(1)
		defer s.running.Add(-1)
		s.mu.Lock()
		s.most = max(s.most, n)
		s.mu.Unlock()
		select {
		case <-time.After(s.Delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if key == s.Failing {
			return nil, errors.New("dial tcp 127.0.0.1:9: connection refused")
		}
	}
	return s.Store.Get(ctx, key)
}

// Reads is how many matching Gets there were, Running how many are in
// progress, and Most the most that were at once.
func (s *Slow) Reads() int64   { return s.reads.Load() }
func (s *Slow) Running() int64 { return s.running.Load() }
func (s *Slow) Most() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.most
}
