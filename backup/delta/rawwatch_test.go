package delta

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// randomEvents are events as etcd makes them: puts and deletes of random
// keys and values (empty ones too), leases, versions, revisions from one
// to near the int64 limit.
func randomEvents(r *rand.Rand, n int) []*mvccpb.Event {
	evs := make([]*mvccpb.Event, n)
	rev := r.Int64N(1 << 40)
	for i := range evs {
		if r.IntN(3) == 0 {
			rev++
		}
		if r.IntN(50) == 0 {
			rev = r.Int64N(1<<62) + 1
		}
		kv := &mvccpb.KeyValue{Key: randomBytes(r, 1+r.IntN(300)), ModRevision: rev}
		ev := &mvccpb.Event{Kv: kv}
		if r.IntN(4) == 0 {
			ev.Type = mvccpb.DELETE
		} else {
			kv.CreateRevision = r.Int64N(rev) + 1
			kv.Version = r.Int64N(1000) + 1
			kv.Value = randomBytes(r, r.IntN(5000))
			if r.IntN(3) == 0 {
				kv.Lease = r.Int64()
			}
		}
		evs[i] = ev
	}
	return evs
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestRawWatchAnswersMatchEtcdsEncoding is differential: WatchResponses
// marshalled by etcd's own generated code (what the server sends), over
// generated events and flags; the raw reader must hand over each event's
// bytes exactly as etcd's Event.Marshal makes them (what segments stored
// before the raw reader, and what replay decodes), with its revision.
func TestRawWatchAnswersMatchEtcdsEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for round := range 500 {
		evs := randomEvents(r, r.IntN(40))
		resp := &etcdserverpb.WatchResponse{
			Header:   &etcdserverpb.ResponseHeader{ClusterId: r.Uint64(), MemberId: r.Uint64(), Revision: r.Int64N(1 << 50), RaftTerm: r.Uint64N(100)},
			WatchId:  r.Int64N(10),
			Created:  r.IntN(5) == 0,
			Fragment: r.IntN(3) == 0,
			Events:   evs,
		}
		if r.IntN(10) == 0 {
			resp.Canceled, resp.CompactRevision, resp.CancelReason = true, r.Int64N(1<<40)+1, "mvcc: required revision has been compacted"
		}
		wire, err := resp.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		a, err := parseWatchResponse(wire, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if a.created != resp.Created || a.canceled != resp.Canceled || a.compactRevision != resp.CompactRevision || a.cancelReason != resp.CancelReason || a.fragment != resp.Fragment {
			t.Fatalf("round %d: flags %+v, etcd sent created=%v canceled=%v compact=%d reason=%q", round, a, resp.Created, resp.Canceled, resp.CompactRevision, resp.CancelReason)
		}
		if len(a.events) != len(evs) {
			t.Fatalf("round %d: %d events read, etcd sent %d", round, len(a.events), len(evs))
		}
		for i, ev := range evs {
			want, _ := ev.Marshal()
			if !bytes.Equal(a.events[i].data, want) || a.events[i].revision != ev.Kv.ModRevision {
				t.Fatalf("round %d event %d: revision %d and %d bytes, etcd's encoding has %d and %d bytes", round, i, a.events[i].revision, len(a.events[i].data), ev.Kv.ModRevision, len(want))
			}
		}
	}
}

// TestRawWatchRefusesWhatItCannotStore: a truncated answer, an event with
// a previous key-value or without a key-value are errors, not events.
func TestRawWatchRefusesWhatItCannotStore(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	evs := randomEvents(r, 5)
	wire, _ := (&etcdserverpb.WatchResponse{Events: evs}).Marshal()
	for cut := 1; cut < len(wire); cut++ {
		// A cut on a field boundary is a shorter, valid answer: it must
		// then hold fewer events, never a damaged one.
		if a, err := parseWatchResponse(wire[:cut], nil); err == nil && len(a.events) >= len(evs) {
			t.Fatalf("answer cut at %d of %d bytes read as whole", cut, len(wire))
		}
	}
	withPrev := &mvccpb.Event{Kv: evs[0].Kv, PrevKv: evs[1].Kv}
	wire, _ = (&etcdserverpb.WatchResponse{Events: []*mvccpb.Event{withPrev}}).Marshal()
	if _, err := parseWatchResponse(wire, nil); err == nil {
		t.Fatal("an event with a previous key-value was accepted")
	}
	wire, _ = (&etcdserverpb.WatchResponse{Events: []*mvccpb.Event{{Type: mvccpb.DELETE}}}).Marshal()
	if _, err := parseWatchResponse(wire, nil); err == nil {
		t.Fatal("an event without a key-value was accepted")
	}
}
