package snapshot

import "testing"

func TestRecvBufferPoolSizesAndReuse(t *testing.T) {
	p := newRecvBufferPool()
	// etcd's snapshot message: a 32 KiB chunk plus its header takes the
	// 36 KiB class, not gRPC's 1 MiB one.
	b := p.Get(32<<10 + 40)
	if len(*b) != 32<<10+40 || cap(*b) != 36<<10 {
		t.Fatalf("Get(32 KiB + 40) = len %d cap %d, want len %d cap %d", len(*b), cap(*b), 32<<10+40, 36<<10)
	}
	p.Put(b)
	for _, n := range []int{1, 4 << 10, 4<<10 + 1, 16 << 10, 1 << 20} {
		if got := p.Get(n); len(*got) != n || cap(*got) < n {
			t.Errorf("Get(%d) = len %d cap %d", n, len(*got), cap(*got))
		}
	}
	big := p.Get(2 << 20)
	if len(*big) != 2<<20 {
		t.Fatalf("Get(2 MiB) = len %d", len(*big))
	}
	p.Put(big) // not a class: dropped, not kept
	odd := make([]byte, 10, 5000)
	p.Put(&odd) // foreign capacity: dropped
	if got := p.Get(4 << 10); cap(*got) != 4<<10 {
		t.Errorf("Get(4 KiB) after a foreign Put has cap %d, want 4096", cap(*got))
	}
}
