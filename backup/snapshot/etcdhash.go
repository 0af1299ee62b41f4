package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
)

// EtcdHash reads an etcd snapshot stream once, without buffering it, for
// both of its digests: etcd appends the sha256 of the database (a bbolt
// file) to every snapshot from the Maintenance API, and the manifest's
// raw_sha256 is the sha256 of the whole stream, trailer included. It
// hashes everything but the last sha256.Size bytes written and holds
// those back. Taking a snapshot and restoring one both check it here.
type EtcdHash struct {
	h     hash.Hash
	tail  [sha256.Size]byte
	held  int
	n     int64
	done  bool
	body  []byte // sha256 of all but the trailer, once finished
	whole []byte // sha256 of everything, once finished
}

// NewEtcdHash returns an empty EtcdHash.
func NewEtcdHash() *EtcdHash { return &EtcdHash{h: sha256.New()} }

// Write never fails; it must not be called after Sums or Verify.
func (t *EtcdHash) Write(p []byte) (int, error) {
	if t.done {
		panic("snapshot.EtcdHash: Write after the sums were taken")
	}
	written := len(p)
	t.n += int64(written)
	if len(p) >= sha256.Size {
		t.h.Write(t.tail[:t.held])
		t.h.Write(p[:len(p)-sha256.Size])
		t.held = copy(t.tail[:], p[len(p)-sha256.Size:])
		return written, nil
	}
	if over := t.held + len(p) - sha256.Size; over > 0 {
		t.h.Write(t.tail[:over])
		t.held = copy(t.tail[:], t.tail[over:t.held])
	}
	t.held += copy(t.tail[t.held:], p)
	return written, nil
}

// Size is the number of bytes written.
func (t *EtcdHash) Size() int64 { return t.n }

func (t *EtcdHash) finish() {
	if t.done {
		return
	}
	t.done = true
	t.body = t.h.Sum(nil)
	t.h.Write(t.tail[:t.held]) // Sum leaves the state as it was: one pass for both
	t.whole = t.h.Sum(nil)
}

// Complete reports whether the stream has the shape of an etcd snapshot
// with its trailer: bbolt files are whole pages, so the size is 32 more
// than a multiple of 512 (the test etcdutl applies).
func (t *EtcdHash) Complete() bool {
	return t.n%512 == sha256.Size && t.held == sha256.Size
}

// Sums returns, in hex, the sha256 of the body (what the trailer must
// equal), the trailer etcd sent, and the sha256 of the whole stream.
func (t *EtcdHash) Sums() (body, trailer, whole string) {
	t.finish()
	return hex.EncodeToString(t.body), hex.EncodeToString(t.tail[:t.held]), hex.EncodeToString(t.whole)
}

// Verify checks the trailer etcd sent against the hash of the rest.
func (t *EtcdHash) Verify() error {
	if !t.Complete() {
		return fmt.Errorf("snapshot of %d bytes has no sha256 trailer: the stream was cut short", t.n)
	}
	if body, trailer, _ := t.Sums(); body != trailer {
		return fmt.Errorf("snapshot sha256 mismatch: etcd sent %s, the data hashes to %s", trailer, body)
	}
	return nil
}
