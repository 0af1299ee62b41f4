package delta

import (
	"math/rand/v2"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

// BenchmarkParseWatchResponse reads a 1,000-event answer, the size etcd
// sends when a watch catches up.
func BenchmarkParseWatchResponse(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	wire, err := (&etcdserverpb.WatchResponse{Header: &etcdserverpb.ResponseHeader{Revision: 1}, Events: randomEvents(r, 1000)}).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	evs := make([]rawEvent, 0, 1000)
	b.SetBytes(int64(len(wire)))
	b.ResetTimer()
	for range b.N {
		if _, err := parseWatchResponse(wire, evs[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
