package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

// writeChunked feeds data in random chunk sizes, including ones smaller
// than the 32-byte trailer, as a network stream would.
func writeChunked(t *EtcdHash, data []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed))
	for len(data) > 0 {
		n := min(len(data), 1+r.IntN(100))
		t.Write(data[:n])
		data = data[n:]
	}
}

func TestEtcdHash(t *testing.T) {
	body := make([]byte, 4096*3)
	for i := range body {
		body[i] = byte(i * 7)
	}
	sum := sha256.Sum256(body)
	good := append(append([]byte{}, body...), sum[:]...)

	for seed := range uint64(20) {
		tc := NewEtcdHash()
		writeChunked(tc, good, seed)
		if err := tc.Verify(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		whole := sha256.Sum256(good)
		if _, _, got := tc.Sums(); got != hex.EncodeToString(whole[:]) || tc.Size() != int64(len(good)) {
			t.Fatalf("seed %d: whole-stream sha256 %s (%d bytes), want %x (%d)", seed, got, tc.Size(), whole, len(good))
		}
	}

	corrupt := append([]byte{}, good...)
	corrupt[100] ^= 1
	tc := NewEtcdHash()
	writeChunked(tc, corrupt, 1)
	if err := tc.Verify(); err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Fatalf("corrupt: %v", err)
	}

	tc = NewEtcdHash()
	writeChunked(tc, body[:4096*2], 1)
	if err := tc.Verify(); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("truncated: %v", err)
	}
}
