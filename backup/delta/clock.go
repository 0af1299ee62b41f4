package delta

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// clockKey is the key the agent reads to learn etcd's revision. Nothing
// writes it: a count-only read of one key is the cheapest request whose
// answer carries the store's revision.
const clockKey = "\x00k8sguard-etcdguard-clock"

// clock remembers when the agent learnt that etcd had reached a revision.
// The writer reads changes in batches, a second or so after they were
// committed; the clock is what still dates each change to within
// clockEvery of its commit, for restores by time (--at). A revision first
// reported at time t was committed before t: the date is never early, so
// `restore --at T` never replays a change made after T.
type clock struct {
	mu      sync.Mutex
	samples []sample // oldest first
}

type sample struct {
	at  time.Time // when the answer arrived
	rev int64     // the revision etcd reported
}

// clockEvery is how often the clock asks etcd for its revision.
const clockEvery = 100 * time.Millisecond

// run samples etcd's revision every clockEvery until ctx ends. A serializable
// read is answered by the member itself, without a round through the
// leader; a member reports only revisions it has applied, which were
// committed earlier still.
func (c *clock) run(ctx context.Context, cli *clientv3.Client, now func() time.Time) {
	t := time.NewTicker(clockEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, clockEvery)
		c.ask(rctx, cli, now, clientv3.WithSerializable()) // a missed sample only dates later
		cancel()
	}
}

// ask reads etcd's revision (linearizable unless opts say otherwise),
// records it and returns it.
func (c *clock) ask(ctx context.Context, cli *clientv3.Client, now func() time.Time, opts ...clientv3.OpOption) (int64, error) {
	r, err := cli.Get(ctx, clockKey, append(opts, clientv3.WithCountOnly())...)
	if err != nil {
		return 0, err
	}
	c.record(now(), r.Header.Revision)
	return r.Header.Revision, nil
}

// maxSamples bounds the clock when nothing reads it for long (drains
// failing while etcd still answers): 4096 samples are over 6 minutes of
// a changing etcd. Dropping the oldest only dates those revisions later,
// never earlier than their commit.
const maxSamples = 4096

// record keeps a sample only when etcd's revision moved: on an idle etcd
// the first sample of a revision is the one that dates it.
func (c *clock) record(at time.Time, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.samples); n > 0 && c.samples[n-1].rev >= rev {
		return
	}
	if len(c.samples) == maxSamples {
		c.samples = append(c.samples[:0], c.samples[1:]...)
	}
	c.samples = append(c.samples, sample{at, rev})
}

// dater dates revisions in increasing order from what the clock has
// recorded so far, then forgets the samples it no longer needs.
type dater struct{ samples []sample }

// dates returns a dater for revisions above from.
func (c *clock) dates(from int64) *dater {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Samples that report no revision above from are of no more use.
	i := 0
	for i < len(c.samples) && c.samples[i].rev <= from {
		i++
	}
	c.samples = c.samples[i:]
	return &dater{samples: append([]sample(nil), c.samples...)}
}

// of is when revision rev was first known committed; fallback when no
// sample has reached it (then the time the change itself arrived).
func (d *dater) of(rev int64, fallback time.Time) time.Time {
	for len(d.samples) > 0 && d.samples[0].rev < rev {
		d.samples = d.samples[1:]
	}
	if len(d.samples) == 0 {
		return fallback
	}
	return d.samples[0].at
}
