package snapshot

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
)

// snapshotDialOptions make gRPC receive a snapshot without clearing a
// megabyte per message. gRPC's default buffer pool rounds each request up
// to a size class (256 B, 4, 16, 32 KiB, 1 MiB) and zeroes the whole class
// on every Get; its proto codec joins each message's 16 KiB frames in a
// buffer from that default pool. etcd sends a snapshot in 32 KiB chunks,
// so each message, a few bytes over 32 KiB with its header, took a 1 MiB
// buffer and cleared all of it: 32 bytes cleared for each byte received,
// 17% of a snapshot's CPU in the profile (make bench, 256 MiB).
func snapshotDialOptions() []grpc.DialOption {
	pool := newRecvBufferPool()
	return []grpc.DialOption{
		experimental.WithBufferPool(pool),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(joiningCodec{encoding.GetCodecV2(proto.Name), pool})),
	}
}

// joiningCodec is gRPC's proto codec, with the frames of a message joined
// in a buffer from pool rather than from gRPC's default pool.
type joiningCodec struct {
	encoding.CodecV2
	pool mem.BufferPool
}

func (c joiningCodec) Unmarshal(data mem.BufferSlice, v any) error {
	buf := data.MaterializeToBuffer(c.pool) // one buffer: passed through as is
	defer buf.Free()
	if done, err := reuseBlob(v, buf.ReadOnlyData()); done {
		return err
	}
	return c.CodecV2.Unmarshal(mem.BufferSlice{buf}, v)
}

// recvBufferPool has a class that fits etcd's snapshot messages and hands
// buffers back without clearing them: gRPC reads a frame, or joins a
// message, over exactly the length it asked for before anything reads it,
// and the bytes of earlier messages are the same snapshot's, in the same
// process.
//
// Its free lists are bounded channels, not sync.Pools: a sync.Pool is
// emptied by every garbage collection, and under the snapshot's memory
// limit collections are frequent, so each one made the pool allocate its
// buffers again, which brought the next collection closer: 146 MB of a
// 1 GiB snapshot's 212 MB of allocations, and 1,350 collections.
type recvBufferPool struct {
	classes []int // ascending
	free    []chan *[]byte
}

var _ mem.BufferPool = (*recvBufferPool)(nil)

func newRecvBufferPool() *recvBufferPool {
	// gRPC holds up to a flow-control window (1 MiB: dialMember) of 16 KiB
	// frames before they are joined into one message at a time; the
	// lists keep that many, about 2 MiB at most.
	p := &recvBufferPool{classes: []int{4 << 10, 16 << 10, 36 << 10, 1 << 20}}
	for _, n := range []int{16, snapshotWindow / (16 << 10), 8, 1} {
		p.free = append(p.free, make(chan *[]byte, n))
	}
	return p
}

func (p *recvBufferPool) class(n int) int {
	for i, c := range p.classes {
		if n <= c {
			return i
		}
	}
	return -1
}

// Get returns a buffer of length n whose contents are undefined.
func (p *recvBufferPool) Get(n int) *[]byte {
	i := p.class(n)
	if i < 0 {
		b := make([]byte, n)
		return &b
	}
	select {
	case b := <-p.free[i]:
		*b = (*b)[:n]
		return b
	default:
		b := make([]byte, n, p.classes[i])
		return &b
	}
}

// Put keeps a buffer for reuse if it has a class's exact capacity and the
// class's list has room.
func (p *recvBufferPool) Put(b *[]byte) {
	if i := p.class(cap(*b)); i >= 0 && cap(*b) == p.classes[i] {
		select {
		case p.free[i] <- b:
		default:
		}
	}
}
