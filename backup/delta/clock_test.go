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
