package zstdframe

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
// by Read into exactly the frames that were concatenated, each of
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
			frame, err := Read(br, nil, 2<<20)
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

// A stored frame is read by stock zstd (its checksum included) and cut
// by Read where it ends, whatever its size against zstd's 128 KiB block.
func TestAppendStoredIsReadByStockZstd(t *testing.T) {
	bin, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal("stock zstd not on PATH (apt-get install zstd)")
	}
	rnd := mrand.New(mrand.NewPCG(8878, 3))
	var obj, want []byte
	frames := 0
	for _, n := range []int{0, 1, maxRawBlock - 1, maxRawBlock, maxRawBlock + 1, 3*maxRawBlock + 77, 512 << 10} {
		p := mixed(rnd, n)
		obj = AppendStored(obj, p)
		want = append(want, p...)
		frames++
	}
	cmd := exec.Command(bin, "-d", "-c", "-q")
	cmd.Stdin = bytes.NewReader(obj)
	got, err := cmd.Output()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("zstd -d: %d bytes of %d, err %v", len(got), len(want), err)
	}
	br := bufio.NewReader(bytes.NewReader(obj))
	for i := range frames {
		if _, err := Read(br, nil, 1<<20); err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
	}
	if _, err := Read(br, nil, 1<<20); !errors.Is(err, io.EOF) {
		t.Fatalf("after %d frames: %v, want io.EOF", frames, err)
	}
}
