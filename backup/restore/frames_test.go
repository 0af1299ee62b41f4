package restore

import (
	"bytes"
	"errors"
	"io"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/k8sguard/k8sguard/backup/internal/zstdframe"
)

// chunkObject is what a snapshot writes: each part a compressed frame
// (EncodeAll) or, every third, a stored one.
func chunkObject(t *testing.T, parts [][]byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var obj []byte
	for i, p := range parts {
		if i%3 == 2 {
			obj = zstdframe.AppendStored(obj, p)
		} else {
			obj = enc.EncodeAll(p, obj)
		}
	}
	return obj
}

func textPart(rnd *mrand.Rand, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString("key-")
		b.WriteString(strings.Repeat("v", rnd.IntN(40)))
		b.WriteByte('\n')
	}
	return b.Bytes()[:n]
}

// decodeChunked reads back concatenated frames in order, and refuses, with
// the frame's number, what is damaged or larger than a chunk.
func TestDecodeChunked(t *testing.T) {
	rnd := mrand.New(mrand.NewPCG(1, 14))
	var want []byte
	var parts [][]byte
	for range 40 {
		p := textPart(rnd, 1+rnd.IntN(256<<10))
		want = append(want, p...)
		parts = append(parts, p)
	}
	obj := chunkObject(t, parts)
	var out bytes.Buffer
	if err := decodeChunked(bytes.NewReader(obj), &out, 256<<10, 2); err != nil || !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("decoded %d bytes of %d (equal %v), err %v", out.Len(), len(want), bytes.Equal(out.Bytes(), want), err)
	}

	big := chunkObject(t, [][]byte{textPart(rnd, 600<<10)})
	cases := []struct {
		name string
		obj  []byte
		want string
	}{
		{"nothing", nil, "no zstd frame in the object"},
		{"truncated", obj[:len(obj)-5], "truncated frame: unexpected EOF"},
		{"not zstd after the frames", append(append([]byte{}, obj...), []byte("garbage!")...), "frame 41: not a zstd frame (magic 62726167)"},
		// The decoder refuses the content size in its header...
		{"a frame larger than a chunk", append(append([]byte{}, obj...), big...), "frame 41: decompressed size exceeds configured limit"},
		// ...and the splitter a frame too long to be one chunk's.
		{"a stored frame larger than a chunk", zstdframe.AppendStored(append([]byte{}, obj...), textPart(rnd, 600<<10)), "frame 41: frame larger than 331776 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := decodeChunked(bytes.NewReader(c.obj), io.Discard, 256<<10, 2)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}

	// A write error stops the decode and is returned as it is.
	if err := decodeChunked(bytes.NewReader(obj), &failingWriter{after: 1 << 20}, 256<<10, 2); !errors.Is(err, errDiskFull) {
		t.Fatalf("err = %v, want the write error", err)
	}
}
