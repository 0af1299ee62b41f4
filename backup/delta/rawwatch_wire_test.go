package delta

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestRawWatchAgreesWithEtcdsDecoderOnAnyWire is differential like
// TestRawWatchAnswersMatchEtcdsEncoding, over wire that etcd's Marshal
// does not make but protobuf allows, and etcd's generated Unmarshal reads:
// fields in any order, repeated (the last scalar wins, a repeated message
// field is merged), explicit zeros, unknown fields, and known fields with
// the wrong wire type (which the generated code refuses). Against
// etcdserverpb.WatchResponse.Unmarshal at the pinned etcd:
//
//   - where etcd's decoder reads the answer, the raw reader reads the same
//     flags, compact revision and cancel reason and as many events, each
//     with etcd's ModRevision, unless it refuses an event on purpose (one
//     with a previous key-value, or without a key-value or a mod
//     revision: the segment could not replay it as etcd did);
//   - every event the raw reader hands over, whatever etcd's decoder says
//     of the whole answer, decodes with mvccpb.Event.Unmarshal (what
//     replay runs on the stored bytes) to a key-value with the revision
//     it read: a segment never stores an event replay cannot read.
func TestRawWatchAgreesWithEtcdsDecoderOnAnyWire(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const cases = 20000
	var decoded, deliberate, refusedByEtcd int
	for i := range cases {
		wire := randomWatchWire(r)
		a, ourErr := parseWatchResponse(wire, nil)
		var up etcdserverpb.WatchResponse
		upErr := up.Unmarshal(wire)

		if ourErr == nil {
			for j, ev := range a.events {
				var got mvccpb.Event
				if err := got.Unmarshal(ev.data); err != nil {
					t.Fatalf("case %d: event %d read with revision %d does not decode with etcd's Event.Unmarshal: %v\nwire %x", i, j, ev.revision, err, wire)
				}
				if got.Kv == nil || got.Kv.ModRevision != ev.revision {
					t.Fatalf("case %d: event %d read with revision %d, etcd decodes its bytes to %+v\nwire %x", i, j, ev.revision, got.Kv, wire)
				}
			}
		}
		if upErr != nil {
			refusedByEtcd++
			continue
		}
		if ourErr != nil {
			if whyRefused(&up) == "" {
				t.Fatalf("case %d: the raw reader refuses what etcd's decoder reads (%v): %+v\nwire %x", i, ourErr, &up, wire)
			}
			deliberate++
			continue
		}
		decoded++
		if a.created != up.Created || a.canceled != up.Canceled || a.compactRevision != up.CompactRevision ||
			a.cancelReason != up.CancelReason || a.fragment != up.Fragment {
			t.Fatalf("case %d: flags created=%v canceled=%v compact=%d reason=%q fragment=%v, etcd decodes created=%v canceled=%v compact=%d reason=%q fragment=%v\nwire %x",
				i, a.created, a.canceled, a.compactRevision, a.cancelReason, a.fragment, up.Created, up.Canceled, up.CompactRevision, up.CancelReason, up.Fragment, wire)
		}
		if len(a.events) != len(up.Events) {
			t.Fatalf("case %d: %d events read, etcd decodes %d\nwire %x", i, len(a.events), len(up.Events), wire)
		}
		for j, ev := range up.Events {
			var got mvccpb.Event
			_ = got.Unmarshal(a.events[j].data)
			if a.events[j].revision != ev.Kv.ModRevision || !reflect.DeepEqual(&got, ev) {
				t.Fatalf("case %d event %d: revision %d (%+v), etcd decodes %+v\nwire %x", i, j, a.events[j].revision, &got, ev, wire)
			}
		}
	}
	t.Logf("%d answers: %d read alike, %d refused on purpose, %d refused by etcd's decoder", cases, decoded, deliberate, refusedByEtcd)
	if decoded < cases/4 || deliberate == 0 || refusedByEtcd == 0 {
		t.Fatalf("the generator is lopsided: %d read alike, %d refused on purpose, %d refused by etcd", decoded, deliberate, refusedByEtcd)
	}
}

// whyRefused says why the raw reader refuses an answer etcd's decoder
// read, or "" when it has no reason to.
func whyRefused(w *etcdserverpb.WatchResponse) string {
	for _, ev := range w.Events {
		switch {
		case ev.PrevKv != nil:
			return "an event with a previous key-value"
		case ev.Kv == nil:
			return "an event without a key-value"
		case ev.Kv.ModRevision == 0:
			// proto3 leaves a zero out of the wire: etcd's revisions start
			// at 1, so an event without one is not etcd's.
			return "a key-value without a mod revision"
		}
	}
	return ""
}

// wireField is one field of a generated message.
type wireField struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // varint and fixed values
	b   []byte // bytes values
}

func appendFields(b []byte, fs []wireField) []byte {
	for _, f := range fs {
		b = protowire.AppendTag(b, f.num, f.typ)
		switch f.typ {
		case protowire.VarintType:
			b = protowire.AppendVarint(b, f.v)
		case protowire.Fixed32Type:
			b = protowire.AppendFixed32(b, uint32(f.v))
		case protowire.Fixed64Type:
			b = protowire.AppendFixed64(b, f.v)
		case protowire.BytesType:
			b = protowire.AppendBytes(b, f.b)
		}
	}
	return b
}

// shuffleFields puts fields in a random order now and then (protobuf
// readers take fields in any order; etcd writes them in field order).
func shuffleFields(r *rand.Rand, fs []wireField) []wireField {
	if r.IntN(3) == 0 {
		r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
	}
	return fs
}

// noise is an unknown field (numbers etcd's messages do not use), or, now
// and then, a known field number with the wrong wire type.
func noise(r *rand.Rand, known []protowire.Number, wrongTypeOdds int) wireField {
	types := []protowire.Type{protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type, protowire.BytesType}
	f := wireField{num: protowire.Number(20 + r.IntN(2000)), typ: types[r.IntN(len(types))], v: r.Uint64(), b: randomBytes(r, r.IntN(20))}
	if r.IntN(wrongTypeOdds) == 0 {
		f.num = known[r.IntN(len(known))]
	}
	return f
}

func revisionValue(r *rand.Rand) uint64 {
	switch r.IntN(6) {
	case 0:
		return 0 // an explicit zero
	case 1:
		return uint64(r.Int64N(1<<62) + 1)
	case 2:
		return uint64(-r.Int64N(1<<40) - 1) // negative: ten bytes
	default:
		return uint64(r.Int64N(1<<40) + 1)
	}
}

func randomKVWire(r *rand.Rand) []byte {
	fs := []wireField{{num: 1, typ: protowire.BytesType, b: randomBytes(r, 1+r.IntN(30))}}
	for range r.IntN(3) + 1 { // mod_revision: once usually, sometimes twice or more, sometimes not at all
		if r.IntN(8) != 0 {
			fs = append(fs, wireField{num: 3, typ: protowire.VarintType, v: revisionValue(r)})
		}
		if r.IntN(2) == 0 {
			break
		}
	}
	if r.IntN(2) == 0 {
		fs = append(fs, wireField{num: 2, typ: protowire.VarintType, v: revisionValue(r)}, wireField{num: 4, typ: protowire.VarintType, v: uint64(r.IntN(100))})
	}
	if r.IntN(2) == 0 {
		fs = append(fs, wireField{num: 5, typ: protowire.BytesType, b: randomBytes(r, r.IntN(100))})
	}
	if r.IntN(4) == 0 {
		fs = append(fs, wireField{num: 6, typ: protowire.VarintType, v: r.Uint64()})
	}
	for range r.IntN(2) {
		fs = append(fs, noise(r, []protowire.Number{1, 2, 3, 4, 5, 6}, 6))
	}
	return appendFields(nil, shuffleFields(r, fs))
}

func randomEventWire(r *rand.Rand) []byte {
	var fs []wireField
	if r.IntN(2) == 0 {
		fs = append(fs, wireField{num: 1, typ: protowire.VarintType, v: uint64(r.IntN(2))})
	}
	kvs := 1
	switch r.IntN(10) {
	case 0:
		kvs = 0
	case 1, 2:
		kvs = 2 + r.IntN(2) // a repeated message field: merged
	}
	for range kvs {
		fs = append(fs, wireField{num: 2, typ: protowire.BytesType, b: randomKVWire(r)})
	}
	if r.IntN(15) == 0 {
		fs = append(fs, wireField{num: 3, typ: protowire.BytesType, b: randomKVWire(r)})
	}
	for range r.IntN(2) {
		fs = append(fs, noise(r, []protowire.Number{1, 2, 3}, 8))
	}
	return appendFields(nil, shuffleFields(r, fs))
}

func randomWatchWire(r *rand.Rand) []byte {
	var fs []wireField
	if r.IntN(2) == 0 {
		h, _ := (&etcdserverpb.ResponseHeader{ClusterId: r.Uint64(), Revision: r.Int64N(1 << 40)}).Marshal()
		fs = append(fs, wireField{num: 1, typ: protowire.BytesType, b: h})
	}
	if r.IntN(2) == 0 {
		fs = append(fs, wireField{num: 2, typ: protowire.VarintType, v: uint64(r.IntN(5))})
	}
	for _, num := range []protowire.Number{3, 4, 7} { // created, canceled, fragment; repeated now and then, any varint
		for range r.IntN(3) {
			fs = append(fs, wireField{num: num, typ: protowire.VarintType, v: []uint64{0, 1, 2, 1 << 40}[r.IntN(4)]})
		}
	}
	for range r.IntN(3) {
		fs = append(fs, wireField{num: 5, typ: protowire.VarintType, v: revisionValue(r)})
	}
	for range r.IntN(3) {
		fs = append(fs, wireField{num: 6, typ: protowire.BytesType, b: []byte(fmt.Sprintf("reason %d", r.IntN(100)))})
	}
	for range r.IntN(6) {
		fs = append(fs, wireField{num: 11, typ: protowire.BytesType, b: randomEventWire(r)})
	}
	for range r.IntN(3) {
		fs = append(fs, noise(r, []protowire.Number{1, 2, 3, 4, 5, 6, 7, 11}, 10))
	}
	return appendFields(nil, shuffleFields(r, fs))
}
