package restore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestAsyncWriterKeepsEveryByteInOrder(t *testing.T) {
	src := make([]byte, 5*asyncBufferSize+12345)
	for i := range src {
		src[i] = byte(rand.IntN(256))
	}
	var dst bytes.Buffer
	w := newAsyncWriter(&dst)
	for p := src; len(p) > 0; {
		n := min(len(p), 1+rand.IntN(300<<10)) // decoded blocks of any size, some larger than a buffer
		if k, err := w.Write(p[:n]); err != nil || k != n {
			t.Fatalf("Write = %d, %v; want %d, nil", k, err, n)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst.Bytes(), src) {
		t.Fatalf("wrote %d bytes that differ from the %d given", dst.Len(), len(src))
	}
}

type failingWriter struct{ after, n int }

var errDiskFull = errors.New("no space left on device")

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n+len(p) > f.after {
		return 0, errDiskFull
	}
	f.n += len(p)
	return len(p), nil
}

func TestAsyncWriterReportsTheWriteError(t *testing.T) {
	fw := &failingWriter{after: asyncBufferSize}
	w := newAsyncWriter(fw)
	chunk := make([]byte, 64<<10)
	var err error
	for i := 0; i < 200 && err == nil; i++ { // 12.5 MiB: the error must surface before the end
		_, err = w.Write(chunk)
	}
	if cerr := w.Close(); !errors.Is(cerr, errDiskFull) {
		t.Fatalf("Close = %v, want %v", cerr, errDiskFull)
	}
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Write kept accepting data after the writer failed: last error %v", err)
	}
	if fw.n != asyncBufferSize {
		t.Fatalf("%d bytes reached the writer, want the %d before the failure", fw.n, asyncBufferSize)
	}
}
