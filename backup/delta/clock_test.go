package delta

import (
	"testing"
	"time"
)

// A change is dated by the first sample that reported its revision: never
// before it was known committed, and the samples it no longer needs are
// forgotten.
func TestClockDatesEachRevisionByTheFirstSampleThatIncludedIt(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var c clock
	c.record(at(100), 10)
	c.record(at(200), 10) // idle: same revision
	c.record(at(300), 14)
	c.record(at(400), 20)
	arrived := at(999)
	d := c.dates(9)
	for _, tc := range []struct {
		rev  int64
		want time.Time
	}{{10, at(100)}, {11, at(300)}, {14, at(300)}, {15, at(400)}, {20, at(400)}, {21, arrived}} {
		if got := d.of(tc.rev, arrived); !got.Equal(tc.want) {
			t.Errorf("revision %d dated %s, want %s", tc.rev, got.Sub(t0), tc.want.Sub(t0))
		}
	}
	// From revision 14 on, only the samples that reported more are kept.
	if d := c.dates(14); len(d.samples) != 1 || d.samples[0].rev != 20 {
		t.Errorf("after revision 14 the clock keeps %v, want only the sample of revision 20", d.samples)
	}
}

// An idle etcd adds no samples, and a clock nobody reads stays bounded,
// dropping the oldest (which dates those revisions later, never earlier).
func TestClockStaysBounded(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var c clock
	for i := range 100 {
		c.record(t0.Add(time.Duration(i)*clockEvery), 7)
	}
	if len(c.samples) != 1 || !c.samples[0].at.Equal(t0) {
		t.Fatalf("idle etcd: %d samples, first at %v; want the first one only", len(c.samples), c.samples[0].at)
	}
	for i := range 2 * maxSamples {
		c.record(t0.Add(time.Duration(i)*clockEvery), int64(8+i))
	}
	if len(c.samples) != maxSamples || c.samples[0].rev != int64(8+maxSamples) {
		t.Fatalf("%d samples from revision %d; want the newest %d", len(c.samples), c.samples[0].rev, maxSamples)
	}
}
