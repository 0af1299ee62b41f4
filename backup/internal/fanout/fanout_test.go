package fanout

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// Results come back in order whatever order the reads finish in, never
// more than the window at once, and an error stays with its index.
func TestOrderedKeepsOrderWithinItsWindow(t *testing.T) {
	var running, most atomic.Int64
	failAt := 37
	next, stop := Ordered(context.Background(), 100, 8, func(ctx context.Context, i int) (int, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		if i == failAt {
			return 0, errors.New("boom")
		}
		return i * i, nil
	})
	defer stop()
	for i := range 100 {
		v, err := next()
		if i == failAt {
			if err == nil || err.Error() != "boom" {
				t.Fatalf("result %d: %v, want its error", i, err)
			}
			continue
		}
		if err != nil || v != i*i {
			t.Fatalf("result %d: %d, %v; want %d", i, v, err, i*i)
		}
	}
	if m := most.Load(); m < 2 || m > 8 {
		t.Fatalf("%d reads at once, want 2..8", m)
	}
}

// stop cancels what runs and what has not started: a caller that stops
// early leaves no read behind, and none that had not started is run.
func TestOrderedStopCancelsTheRest(t *testing.T) {
	var started, running atomic.Int64
	next, stop := Ordered(context.Background(), 1000, 4, func(ctx context.Context, i int) (int, error) {
		started.Add(1)
		running.Add(1)
		defer running.Add(-1)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
			return i, nil
		}
	})
	for range 3 {
		if _, err := next(); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d reads still running after stop", running.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if n := started.Load(); n > 3+4+1 {
		t.Fatalf("%d reads started for 3 results and a window of 4", n)
	}
}

// A cancelled context reaches the caller as the results not yet read.
func TestOrderedCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	next, stop := Ordered(ctx, 50, 2, func(ctx context.Context, i int) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	defer stop()
	for range 50 {
		if _, err := next(); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	}
}

// Each returns the first failure in index order and starts nothing after
// it once the caller reached it.
func TestEachReturnsTheFirstFailure(t *testing.T) {
	var started atomic.Int64
	err := Each(context.Background(), 1000, 4, func(ctx context.Context, i int) error {
		started.Add(1)
		switch i {
		case 3:
			time.Sleep(20 * time.Millisecond) // fails after 5 has
			return errors.New("three")
		case 5:
			return errors.New("five")
		}
		return nil
	})
	if err == nil || err.Error() != "three" {
		t.Fatalf("err %v, want the failure of index 3", err)
	}
	if n := started.Load(); n > 3+4+1 {
		t.Fatalf("%d calls started after a failure at index 3 with a window of 4", n)
	}
	if err := Each(context.Background(), 0, 4, func(context.Context, int) error { return errors.New("called") }); err != nil {
		t.Fatal(err)
	}
}
