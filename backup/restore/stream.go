// Package restore turns an etcdguard snapshot in a store back into an etcd
// data directory: find the snapshot, stream it (download → decompress →
// verify) and hand the verified .db to etcdutl's restore. It never
// overwrites a data directory it was not told to, and a snapshot that fails
// verification leaves the target untouched.
package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// IntegrityError says which check a snapshot failed. Restore and verify
// refuse such a snapshot; errors.As finds it under their wrapping.
type IntegrityError struct {
	Key   string // the data object
	Check string // what was compared, e.g. "sha256 of the stored object"
	Got   string
	Want  string
}

func (e *IntegrityError) Error() string {
	if e.Want == "" {
		return fmt.Sprintf("snapshot %s is corrupt: %s: %s", e.Key, e.Check, e.Got)
	}
	return fmt.Sprintf("snapshot %s is corrupt: %s is %s, expected %s", e.Key, e.Check, e.Got, e.Want)
}

// Checked is what Stream measured while it copied a snapshot.
type Checked struct {
	StoredBytes  int64
	StoredSHA256 string
	RawBytes     int64
	RawSHA256    string
	// EtcdHash is the sha256 etcd appends to every snapshot, which matched
	// the bytes before it.
	EtcdHash string
}

// Stream copies the snapshot m describes from s into dst (the raw etcd
// .db, decompressed), checking on the way, without buffering the object:
// the stored object's size and sha256, the .db's size and sha256 against
// the manifest, and etcd's own trailing sha256 against the bytes before
// it. Any mismatch is an *IntegrityError; dst then holds garbage the caller
// must discard.
func Stream(ctx context.Context, s store.Store, m *snapshot.Manifest, dst io.Writer) (*Checked, error) {
	var decode func(src io.Reader, dst io.Writer) error
	switch {
	case m.Compression == snapshot.CompressionZstd && m.Encoding != nil && m.Encoding.ChunkBytes > 0:
		chunk := m.Encoding.ChunkBytes
		if chunk > maxChunkBytes {
			return nil, &IntegrityError{Key: m.DataKey, Check: "the manifest's chunk size", Got: fmt.Sprint(chunk), Want: fmt.Sprintf("at most %d", maxChunkBytes)}
		}
		decode = func(src io.Reader, dst io.Writer) error { return decodeChunked(src, dst, int(chunk), decodeWorkers) }
	case m.Compression == snapshot.CompressionZstd:
		// Written by earlier versions, one encoder goroutine: one frame per
		// run, as long as the snapshot. Two decoding goroutines overlap
		// decompression with the hashes; the 1 MiB window bounds them.
		decode = func(src io.Reader, dst io.Writer) error {
			dec, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true))
			if err != nil {
				return err
			}
			defer dec.Close()
			_, err = io.Copy(dst, dec)
			return err
		}
	case m.Compression == snapshot.CompressionNone || m.Compression == "":
		decode = func(src io.Reader, dst io.Writer) error { _, err := io.Copy(dst, src); return err }
	default:
		return nil, fmt.Errorf("snapshot %s: unknown compression %q", m.DataKey, m.Compression)
	}

	rc, err := s.Get(ctx, m.DataKey)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", m.DataKey, err)
	}
	defer rc.Close()

	// The stored object is read and hashed in its own goroutine, so that
	// on two cores it overlaps with decompression and the .db's hash.
	stored := newCountingHash()
	pr, pw := io.Pipe()
	downloaded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(stored, pw), rc) // the store stops reading when ctx ends
		pw.CloseWithError(err)
		downloaded <- err
	}()

	etcd := snapshot.NewEtcdHash()
	copyErr := decode(pr, io.MultiWriter(destWriter{dst}, etcd))
	// Read what is left so a corrupt object is reported by its checksum,
	// the clearest statement of what is wrong, rather than by whatever the
	// decompressor tripped over first.
	_, drainErr := io.Copy(io.Discard, pr)
	pr.CloseWithError(errors.New("stream stopped")) // unblocks the reader if draining failed
	if err := <-downloaded; err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The SDK checks a single-part object's stored checksum once the
		// last byte is read and fails the read when it differs: an object
		// damaged at rest. Every byte arrived, so their sha256 says so as
		// clearly as for any other corrupt object.
		if got := stored.sum(); stored.n == m.StoredSize && m.StoredSHA256 != "" && got != m.StoredSHA256 {
			c := &Checked{StoredBytes: stored.n, StoredSHA256: got}
			return c, &IntegrityError{Key: m.DataKey, Check: "sha256 of the stored object", Got: got, Want: m.StoredSHA256 + " (manifest; the store's own checksum failed too: " + err.Error() + ")"}
		}
		return nil, fmt.Errorf("download %s: %w", m.DataKey, err)
	}
	if drainErr != nil {
		return nil, fmt.Errorf("download %s: %w", m.DataKey, drainErr)
	}
	if copyErr != nil && isWriteError(copyErr) {
		return nil, fmt.Errorf("stream %s: %w", m.DataKey, copyErr)
	}

	body, trailer, whole := etcd.Sums()
	c := &Checked{StoredBytes: stored.n, StoredSHA256: stored.sum(), RawBytes: etcd.Size(), RawSHA256: whole}
	fail := func(check, got, want string) error {
		return &IntegrityError{Key: m.DataKey, Check: check, Got: got, Want: want}
	}
	if m.StoredSHA256 != "" && c.StoredSHA256 != m.StoredSHA256 {
		return c, fail("sha256 of the stored object", c.StoredSHA256, m.StoredSHA256+" (manifest)")
	}
	if m.StoredSize > 0 && c.StoredBytes != m.StoredSize {
		return c, fail("size of the stored object", fmt.Sprint(c.StoredBytes), fmt.Sprint(m.StoredSize)+" (manifest)")
	}
	if copyErr != nil {
		return c, fail("decompression", fmt.Sprintf("decompress: %v", copyErr), "")
	}
	if m.RawSize > 0 && c.RawBytes != m.RawSize {
		return c, fail("size of the etcd snapshot", fmt.Sprint(c.RawBytes), fmt.Sprint(m.RawSize)+" (manifest)")
	}
	if m.RawSHA256 != "" && c.RawSHA256 != m.RawSHA256 {
		return c, fail("sha256 of the etcd snapshot", c.RawSHA256, m.RawSHA256+" (manifest)")
	}
	if !etcd.Complete() {
		return c, fail("etcd's trailing hash", fmt.Sprintf("missing (%d bytes is not n×512+32: not a snapshot from etcd's Maintenance API)", c.RawBytes), "")
	}
	if body != trailer {
		return c, fail("etcd's trailing sha256", body+" (computed)", trailer+" (stored in the snapshot)")
	}
	c.EtcdHash = body
	return c, nil
}

const (
	// maxChunkBytes bounds what a manifest may ask decodeChunked to
	// buffer per job: etcdguard writes 512 KiB chunks (snapshot.compressChunk).
	maxChunkBytes = 16 << 20
	// decodeWorkers decompress chunks in parallel, beside the goroutines
	// that download and hash the object and hash and write the .db.
	decodeWorkers = 2
)

// countingHash is a sha256 that also counts bytes.
type countingHash struct {
	h hash.Hash
	n int64
}

func newCountingHash() *countingHash { return &countingHash{h: sha256.New()} }

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func (c *countingHash) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// writeError marks errors from the destination, which are not the
// snapshot's fault (a full disk is not a corrupt backup).
type writeError struct{ err error }

func (w writeError) Error() string { return w.err.Error() }
func (w writeError) Unwrap() error { return w.err }

func isWriteError(err error) bool { var w writeError; return errors.As(err, &w) }

// destWriter tags the destination's errors as writeErrors.
type destWriter struct{ w io.Writer }

func (d destWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err != nil {
		err = writeError{err}
	}
	return n, err
}
