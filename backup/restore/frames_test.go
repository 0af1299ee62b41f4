package restore

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// mixed is n bytes of alternating random and text stretches.
func mixed(rnd *mrand.Rand, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		k := 1 + rnd.IntN(96<<10)
		if rnd.IntN(2) == 0 {
			p := make([]byte, k)
			rand.Read(p)
			b.Write(p)
			continue
		}
		for i := 0; i < k; i += 40 {
			fmt.Fprintf(&b, "key-%d: value-%d\n", rnd.IntN(500), rnd.IntN(50))
		}
	}
	return b.Bytes()[:n]
}

// stockZstd compresses in with the zstd CLI: from a file, which records
// the content size in the frame header, or from a pipe, which cannot.
func stockZstd(t *testing.T, in []byte, fromFile bool, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal("stock zstd not on PATH (apt-get install zstd): the frame splitter is checked against what it writes")
	}
	args = append([]string{"-c", "-q"}, args...)
	if fromFile {
		name := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(name, in, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	cmd := exec.Command(bin, args...)
	if !fromFile {
		cmd.Stdin = bytes.NewReader(in)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd %v: %v: %s", args, err, stderr.String())
	}
	return out
}

// TestReadFrameSplitsWhatStockZstdWrites is differential against libzstd:
// objects made of frames that the zstd CLI wrote, with every header shape
// it writes (with and without content size and checksum, every block
// type, levels from fastest to ultra, long windows, many blocks), are cut
// by readFrame into exactly the frames that were concatenated, each of
// which decodes on its own to its part of the input.
func TestReadFrameSplitsWhatStockZstdWrites(t *testing.T) {
	rnd := mrand.New(mrand.NewPCG(14, 2026))
	flags := [][]string{
		{"-1"}, {"-3", "--no-check"}, {"--fast=5"}, {"-19"}, {"--no-content-size"},
		{"-1", "--content-size"}, {"--ultra", "-20"}, {"-1", "--long=20"}, {"-9", "--no-check", "--no-content-size"},
	}
	for round := range 12 {
		var obj []byte
		var parts [][]byte
		for range 1 + rnd.IntN(4) {
			var p []byte
			switch rnd.IntN(5) {
			case 0:
				p = nil // an empty frame
			case 1:
				p = bytes.Repeat([]byte{byte(rnd.IntN(256))}, 1+rnd.IntN(300<<10)) // RLE blocks
			default:
				p = mixed(rnd, 1+rnd.IntN(900<<10))
			}
			obj = append(obj, stockZstd(t, p, rnd.IntN(2) == 0, flags[rnd.IntN(len(flags))]...)...)
			parts = append(parts, p)
		}
		br := bufio.NewReaderSize(bytes.NewReader(obj), 4<<10)
		var got [][]byte
		for {
			frame, err := readFrame(br, nil, 2<<20)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("round %d: frame %d: %v", round, len(got)+1, err)
			}
			got = append(got, frame)
		}
		if len(got) != len(parts) {
			t.Fatalf("round %d: %d frames split, %d written", round, len(got), len(parts))
		}
		dec, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range got {
			out, err := dec.DecodeAll(f, nil)
			if err != nil || !bytes.Equal(out, parts[i]) {
				t.Fatalf("round %d: frame %d of %d bytes decodes to %d bytes (want %d), err %v", round, i+1, len(f), len(out), len(parts[i]), err)
			}
		}
		dec.Close()
	}
}

// decodeChunked reads back concatenated frames in order, and refuses, with
// the frame's number, what is damaged or larger than a chunk.
func TestDecodeChunked(t *testing.T) {
	rnd := mrand.New(mrand.NewPCG(1, 14))
	var want, obj []byte
	for range 40 {
		p := mixed(rnd, 1+rnd.IntN(256<<10))
		want = append(want, p...)
		obj = append(obj, stockZstd(t, p, true, "-1")...)
	}
	var out bytes.Buffer
	if err := decodeChunked(bytes.NewReader(obj), &out, 256<<10, 2); err != nil || !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("decoded %d bytes of %d (equal %v), err %v", out.Len(), len(want), bytes.Equal(out.Bytes(), want), err)
	}

	big := stockZstd(t, mixed(rnd, 600<<10), false, "-1")
	cases := []struct {
		name string
		obj  []byte
		want string
	}{
		{"nothing", nil, "no zstd frame in the object"},
		{"truncated", obj[:len(obj)-5], "truncated frame: unexpected EOF"},
		{"not zstd after the frames", append(append([]byte{}, obj...), []byte("garbage!")...), "frame 41: not a zstd frame (magic 62726167)"},
		{"a frame larger than a chunk", append(append([]byte{}, obj...), big...), "frame 41: "},
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
