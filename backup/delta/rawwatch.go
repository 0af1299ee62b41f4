package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawWatch is etcd's Watch RPC read without decoding its events. A segment
// stores each event in etcd's own protobuf encoding, which is exactly the
// bytes etcd sent (etcd marshals mvccpb.Event deterministically, and the
// agent asks for no previous values): decoding every key and value into Go
// objects, only to marshal them again, was a third of the agent's CPU and
// most of its garbage at thousands of changes a second. Each answer is
// received into one buffer, reused from message to message; only the
// revision of each event is read out of it.
//
// It opens the stream on the etcd client's own connection, so TLS, the
// endpoint and the auth token are the client's.
type rawWatch struct {
	stream grpc.ClientStream
	msg    *rawMessage
}

// rawEvent is one event of a watch answer: its mod revision, and its
// bytes (an mvccpb.Event), valid until the next answer is received.
type rawEvent struct {
	revision int64
	data     []byte
}

// watchAnswer is what a watch answer says besides its events.
type watchAnswer struct {
	// fragment: more of the same answer follows (its last revision may
	// go on in the next piece).
	created, canceled, fragment bool
	compactRevision             int64
	cancelReason                string
	events                      []rawEvent
}

// openRawWatch watches every key from revision from, until ctx ends,
// receiving into msg (the caller's, kept from one watch to the next).
func openRawWatch(ctx context.Context, cli *clientv3.Client, from int64, msg *rawMessage) (*rawWatch, error) {
	desc := &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true, ClientStreams: true}
	s, err := cli.ActiveConnection().NewStream(ctx, desc, "/etcdserverpb.Watch/Watch", grpc.ForceCodecV2(rawCodec{}),
		grpc.MaxCallRecvMsgSize(math.MaxInt32)) // one event can be as large as etcd allows

	if err != nil {
		return nil, err
	}
	// Key and range end "\x00": every key (clientv3's WithPrefix of "").
	// Fragment: an answer larger than etcd's request limit (1.5 MiB by
	// default) comes in pieces of about that size, not whole: up to 1,000
	// revisions of large values would otherwise be one message, held in
	// memory at once.
	req := &etcdserverpb.WatchRequest{RequestUnion: &etcdserverpb.WatchRequest_CreateRequest{
		CreateRequest: &etcdserverpb.WatchCreateRequest{Key: []byte{0}, RangeEnd: []byte{0}, StartRevision: from, Fragment: true},
	}}
	if err := s.SendMsg(req); err != nil {
		return nil, err
	}
	return &rawWatch{stream: s, msg: msg}, nil
}

// next receives the next answer; its events are valid until the next call.
func (w *rawWatch) next() (*watchAnswer, error) {
	if err := w.stream.RecvMsg(w.msg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("watch closed by etcd")
		}
		return nil, err
	}
	a, err := parseWatchResponse(w.msg.buf, w.msg.events[:0])
	if err != nil {
		return nil, fmt.Errorf("watch answer: %w", err)
	}
	w.msg.events = a.events
	return a, nil
}

// rawMessage is a received answer's bytes and the events read from it;
// both are reused for the next answer.
type rawMessage struct {
	buf    []byte
	events []rawEvent
}

// trim lets go of buffers one very large answer grew.
func (m *rawMessage) trim() {
	if cap(m.buf) > 8<<20 {
		m.buf = nil
	}
	if cap(m.events) > 4096 {
		m.events = nil
	}
}

// rawCodec sends requests as protobuf and hands answers over as bytes.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" } // what etcd expects on the wire

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	req, ok := v.(*etcdserverpb.WatchRequest)
	if !ok {
		return nil, fmt.Errorf("raw watch: cannot send %T", v)
	}
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("raw watch: cannot receive into %T", v)
	}
	n := data.Len()
	if cap(m.buf) < n {
		m.buf = make([]byte, n) // once: answers are fragments of about 1.5 MiB
	}
	m.buf = m.buf[:n]
	data.CopyTo(m.buf)
	return nil
}

// Field numbers of etcd's WatchResponse, Event and KeyValue messages
// (api/etcdserverpb/rpc.proto, api/mvccpb/kv.proto).
const (
	fieldWatchHeader          = 1
	fieldWatchID              = 2
	fieldWatchCreated         = 3
	fieldWatchCanceled        = 4
	fieldWatchCompactRevision = 5
	fieldWatchCancelReason    = 6
	fieldWatchFragment        = 7
	fieldWatchEvents          = 11
	fieldEventType            = 1
	fieldEventKV              = 2
	fieldEventPrevKV          = 3
	fieldKVKey                = 1
	fieldKVCreateRevision     = 2
	fieldKVModRevision        = 3
	fieldKVVersion            = 4
	fieldKVValue              = 5
	fieldKVLease              = 6
)

// The wire types of the fields the messages define (-1: a field they do
// not define, skipped). etcd's generated decoder refuses a known field
// with another wire type, so the raw reader does too: an event it kept
// would not decode at replay.
func watchWireType(num protowire.Number) protowire.Type {
	switch num {
	case fieldWatchHeader, fieldWatchCancelReason, fieldWatchEvents:
		return protowire.BytesType
	case fieldWatchID, fieldWatchCreated, fieldWatchCanceled, fieldWatchCompactRevision, fieldWatchFragment:
		return protowire.VarintType
	}
	return -1
}

func eventWireType(num protowire.Number) protowire.Type {
	switch num {
	case fieldEventType:
		return protowire.VarintType
	case fieldEventKV, fieldEventPrevKV:
		return protowire.BytesType
	}
	return -1
}

func kvWireType(num protowire.Number) protowire.Type {
	switch num {
	case fieldKVKey, fieldKVValue:
		return protowire.BytesType
	case fieldKVCreateRevision, fieldKVModRevision, fieldKVVersion, fieldKVLease:
		return protowire.VarintType
	}
	return -1
}

// checkWireType refuses a known field of message what with a wire type
// other than its own (want, -1 for an unknown field).
func checkWireType(what string, num protowire.Number, typ, want protowire.Type) error {
	if want >= 0 && typ != want {
		return fmt.Errorf("%s field %d has wire type %d, not %d", what, num, typ, want)
	}
	return nil
}

// parseWatchResponse reads a WatchResponse's flags and its events' bytes
// and revisions, appending the events to evs. It reads as etcd's
// generated decoder does: fields in any order, the last of a repeated
// scalar wins, unknown fields are skipped.
func parseWatchResponse(b []byte, evs []rawEvent) (*watchAnswer, error) {
	a := &watchAnswer{events: evs}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if err := checkWireType("WatchResponse", num, typ, watchWireType(num)); err != nil {
			return nil, err
		}
		switch {
		case num == fieldWatchCreated || num == fieldWatchCanceled || num == fieldWatchCompactRevision || num == fieldWatchFragment:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			switch num {
			case fieldWatchCreated:
				a.created = v != 0
			case fieldWatchCanceled:
				a.canceled = v != 0
			case fieldWatchFragment:
				a.fragment = v != 0
			default:
				a.compactRevision = int64(v)
			}
			n = m
		case num == fieldWatchCancelReason || num == fieldWatchEvents:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			if num == fieldWatchCancelReason {
				a.cancelReason = string(v)
			} else {
				rev, err := eventRevision(v)
				if err != nil {
					return nil, err
				}
				a.events = append(a.events, rawEvent{revision: rev, data: v})
			}
			n = m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
		}
		b = b[n:]
	}
	return a, nil
}

// eventRevision is the mod revision of an encoded mvccpb.Event. An event
// without a key-value, or with a previous one (never asked for), is
// refused: the segment would not replay what etcd did. A key-value field
// that comes more than once is merged, as protobuf decoders do: the last
// mod revision in any of them is the event's.
func eventRevision(ev []byte) (int64, error) {
	var rev int64
	hasKV, hasRev := false, false
	for len(ev) > 0 {
		num, typ, n := protowire.ConsumeTag(ev)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		ev = ev[n:]
		if err := checkWireType("event", num, typ, eventWireType(num)); err != nil {
			return 0, err
		}
		switch num {
		case fieldEventPrevKV:
			return 0, errors.New("event carries a previous key-value, which was not asked for")
		case fieldEventKV:
			kv, m := protowire.ConsumeBytes(ev)
			if m < 0 {
				return 0, protowire.ParseError(m)
			}
			hasKV = true
			r, ok, err := kvModRevision(kv)
			if err != nil {
				return 0, err
			}
			if ok {
				rev, hasRev = r, true
			}
			n = m
		default:
			if n = protowire.ConsumeFieldValue(num, typ, ev); n < 0 {
				return 0, protowire.ParseError(n)
			}
		}
		ev = ev[n:]
	}
	switch {
	case !hasKV:
		return 0, errors.New("event without a key-value")
	case !hasRev:
		return 0, errors.New("event's key-value has no mod revision")
	}
	return rev, nil
}

// kvModRevision is the last mod revision of an encoded mvccpb.KeyValue,
// and whether it has one.
func kvModRevision(kv []byte) (rev int64, ok bool, err error) {
	for len(kv) > 0 {
		num, typ, n := protowire.ConsumeTag(kv)
		if n < 0 {
			return 0, false, protowire.ParseError(n)
		}
		kv = kv[n:]
		if err := checkWireType("key-value", num, typ, kvWireType(num)); err != nil {
			return 0, false, err
		}
		if num == fieldKVModRevision {
			v, m := protowire.ConsumeVarint(kv)
			if m < 0 {
				return 0, false, protowire.ParseError(m)
			}
			rev, ok, n = int64(v), true, m
		} else if n = protowire.ConsumeFieldValue(num, typ, kv); n < 0 {
			return 0, false, protowire.ParseError(n)
		}
		kv = kv[n:]
	}
	return rev, ok, nil
}
