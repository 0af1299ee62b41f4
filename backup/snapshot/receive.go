package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdStream is etcd's Maintenance.Snapshot stream, received into one
// message whose blob buffer is reused, and written straight to its
// consumer. clientv3's Snapshot allocates a 32 KiB blob per message and
// copies it through an io.Pipe; at 1 GiB that is 32,768 allocations, a
// gigabyte of garbage and two copies that this loop does not make.
type etcdStream struct {
	stream  pb.Maintenance_SnapshotClient
	msg     pb.SnapshotResponse
	first   []byte // the first message's blob, read by openEtcdStream
	n       int64
	busy    time.Duration // waiting on etcd
	Header  *pb.ResponseHeader
	Version string // the storage schema's version, from the first message
}

// openEtcdStream starts a snapshot and reads its first message, which
// carries the header (the revision) and the version.
func openEtcdStream(ctx context.Context, cli *clientv3.Client) (*etcdStream, error) {
	stream, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Snapshot(ctx, &pb.SnapshotRequest{})
	if err != nil {
		return nil, err
	}
	s := &etcdStream{stream: stream}
	if err := s.recv(); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("etcd closed the snapshot stream before sending anything")
		}
		return nil, err
	}
	if s.msg.Header != nil {
		h := *s.msg.Header
		s.Header = &h
	}
	s.Version = s.msg.Version
	s.first = s.msg.Blob
	return s, nil
}

func (s *etcdStream) recv() error {
	start := time.Now()
	// joiningCodec decodes a SnapshotResponse into s.msg as it is,
	// reusing the blob's buffer (see reuseBlob).
	err := s.stream.RecvMsg(&s.msg)
	s.busy += time.Since(start)
	return err
}

// WriteTo writes the whole snapshot to w, one message at a time, and
// returns etcd's error if the stream breaks.
func (s *etcdStream) WriteTo(w io.Writer) (int64, error) {
	blob := s.first
	s.first = nil
	for {
		if len(blob) > 0 {
			n, err := w.Write(blob)
			s.n += int64(n)
			if err != nil {
				return s.n, err
			}
		}
		if err := s.recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return s.n, nil
			}
			return s.n, fmt.Errorf("receive: %w", err)
		}
		blob = s.msg.Blob
	}
}

// reuseBlob is how joiningCodec decodes a snapshot message: gogo's
// generated Unmarshal without the Reset proto.Unmarshal does first, so
// the blob is appended into the previous message's buffer. Only
// etcdStream receives SnapshotResponses on its connection, into its own
// message, and it has written the previous blob before asking for the
// next.
func reuseBlob(v any, data []byte) (bool, error) {
	m, ok := v.(*pb.SnapshotResponse)
	if !ok {
		return false, nil
	}
	m.RemainingBytes, m.Version = 0, ""
	return true, m.Unmarshal(data)
}
