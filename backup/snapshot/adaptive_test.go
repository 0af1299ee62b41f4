package snapshot

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// stretch is len bytes of one kind: random, or JSON-like text.
func stretch(random bool, n int) []byte {
	if random {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		fmt.Fprintf(&sb, `{"kind":"ConfigMap","metadata":{"name":"cm-%d","namespace":"ns-%d","uid":"%x"},"data":{"k":"v%d"}}`, i, i%7, i*7919, i)
	}
	return []byte(sb.String()[:n])
}

// encodeAdaptive writes data in 32 KiB writes, as etcd's messages arrive,
// through a chunkCompressor with chunks of chunk bytes.
func encodeAdaptive(t *testing.T, data []byte, chunk int) ([]byte, Encoding) {
	t.Helper()
	var out bytes.Buffer
	cc, err := newChunkCompressor(&out, zstd.SpeedFastest, chunk, 2)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n := min(len(p), 32<<10)
		if _, err := cc.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := cc.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), cc.Encoding()
}

// Every mix of random and compressible stretches decodes, with etcdguard's
// decoder and with stock zstd, to the bytes written, and the random ones
// are stored rather than compressed.
func TestAdaptiveFramesDecodeWithStockZstd(t *testing.T) {
	zstdBin, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal("stock zstd not on PATH (apt-get install zstd): this test proves it reads every object etcdguard writes")
	}
	cases := []struct {
		name   string
		parts  []bool // true: a random stretch
		sizes  []int
		stored bool // some bytes stored raw
		frames int  // in chunks larger than the data
		chunk  int  // the chunk size: 8 MiB unless set
	}{
		{"compressible", []bool{false}, []int{3 << 20}, false, 1, 0},
		// The first message of a random stretch is compressed: it takes
		// switchAfter random messages in a row to switch.
		{"random", []bool{true}, []int{3<<20 + 77}, true, 2, 0},
		{"random then text", []bool{true, false}, []int{1 << 20, 1 << 20}, true, 3, 0},
		{"text, random, text", []bool{false, true, false}, []int{1 << 20, 700 << 10, 500 << 10}, true, 3, 0},
		// One random message inside text stays in the compressed frame.
		{"one random message", []bool{false, true, false}, []int{256 << 10, 32 << 10, 256 << 10}, false, 1, 0},
		// And one text message among random ones stays stored.
		{"one text message", []bool{true, false, true}, []int{256 << 10, 32 << 10, 256 << 10}, true, 2, 0},
		{"small random", []bool{true}, []int{1000}, false, 1, 0},
		{"empty", nil, nil, false, 1, 0},
		// Chunks end frames: 3 MiB of text in 1 MiB chunks is 3 frames; a
		// random stretch cut by chunks is a stored frame in each.
		{"text in chunks", []bool{false}, []int{3 << 20}, false, 3, 1 << 20},
		{"random in chunks", []bool{true}, []int{3<<20 + 77}, true, 5, 1 << 20},
		{"mixed in small chunks", []bool{false, true, false, true}, []int{320 << 10, 192 << 10, 96 << 10, 64 << 10}, true, 13, 64 << 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var data []byte
			for i, random := range c.parts {
				data = append(data, stretch(random, c.sizes[i])...)
			}
			chunk := c.chunk
			if chunk == 0 {
				chunk = 8 << 20
			}
			obj, e := encodeAdaptive(t, data, chunk)
			if (e.StoredRaw > 0) != c.stored || e.Frames != c.frames || e.ZstdLevel != "fastest" || e.ChunkBytes != int64(chunk) {
				t.Errorf("encoding %+v, want stored bytes: %v, %d frames", e, c.stored, c.frames)
			}
			// As restore reads it (restore/stream.go).
			dec, err := zstd.NewReader(bytes.NewReader(obj), zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true))
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			got, err := io.ReadAll(dec)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("etcdguard's decoder: %d bytes back of %d (equal %v), err %v", len(got), len(data), bytes.Equal(got, data), err)
			}
			cmd := exec.Command(zstdBin, "-d", "-c", "--no-progress")
			cmd.Stdin = bytes.NewReader(obj)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			got, err = cmd.Output()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("stock zstd -d: %d bytes back of %d, err %v: %s", len(got), len(data), err, stderr.String())
			}
			// zstd -t checks every frame's content checksum.
			cmd = exec.Command(zstdBin, "-t", "--no-progress")
			cmd.Stdin = bytes.NewReader(obj)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("zstd -t: %v: %s", err, out)
			}
		})
	}
}

// A damaged stored block fails the frame's checksum in stock zstd.
func TestAdaptiveStoredFrameChecksumCatchesDamage(t *testing.T) {
	zstdBin, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal("stock zstd not on PATH (apt-get install zstd)")
	}
	obj, e := encodeAdaptive(t, stretch(true, 256<<10), 1<<20)
	if e.StoredRaw != 256<<10-32<<10 {
		t.Fatalf("encoding %+v: want all but the first message stored", e)
	}
	obj[len(obj)-64<<10] ^= 1 // in the stored frame
	cmd := exec.Command(zstdBin, "-t", "--no-progress")
	cmd.Stdin = bytes.NewReader(obj)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "checksum") {
		t.Fatalf("zstd -t accepted a damaged stored frame: %v: %s", err, out)
	}
}

func TestLooksRandom(t *testing.T) {
	if !looksRandom(stretch(true, 32<<10)) {
		t.Error("random bytes not recognised")
	}
	if looksRandom(stretch(false, 32<<10)) {
		t.Error("JSON taken for random")
	}
	// Half random, half text: compressible enough to compress.
	if looksRandom(append(stretch(true, 16<<10), stretch(false, 16<<10)...)) {
		t.Error("half-random message taken for random")
	}
}

// errWriter fails every write after the first n bytes.
type errWriter struct {
	n   int
	err error
}

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, w.err
	}
	w.n -= len(p)
	return len(p), nil
}

// When the store stops taking the output, the compressor stops too: the
// next write or Close returns the store's error, and no goroutine is left
// waiting for a chunk that will never be written.
func TestChunkCompressorStopsOnWriteError(t *testing.T) {
	stopped := errors.New("the upload stopped reading")
	for _, after := range []int{0, 100 << 10, 1 << 20} {
		cc, err := newChunkCompressor(&errWriter{n: after, err: stopped}, zstd.SpeedFastest, 64<<10, 2)
		if err != nil {
			t.Fatal(err)
		}
		data := stretch(true, 8<<20) // stored: the output is as large as the input
		var werr error
		for p := data; len(p) > 0 && werr == nil; {
			n := min(len(p), 32<<10)
			_, werr = cc.Write(p[:n])
			p = p[n:]
		}
		if werr != nil && !errors.Is(werr, stopped) {
			t.Fatalf("after %d bytes: Write: %v", after, werr)
		}
		if err := cc.Close(); !errors.Is(err, stopped) {
			t.Fatalf("after %d bytes: Close: %v, want the store's error", after, err)
		}
	}
}
