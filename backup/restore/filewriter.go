package restore

import (
	"io"
	"sync"
)

// asyncWriter writes to w from its own goroutine through a few large
// buffers, so that write(2)'s copies into the page cache (13% of a 1 GiB
// restore's CPU, in the goroutine that also hashes the snapshot) overlap
// with decompression and hashing instead of following each block. At most
// asyncBuffers × asyncBufferSize bytes are held. A write error is returned
// by the next Write or by Close; nothing is written after it.
type asyncWriter struct {
	w    io.Writer
	cur  []byte
	full chan []byte
	free chan []byte
	done chan struct{}

	mu  sync.Mutex
	err error
}

const (
	asyncBuffers    = 3
	asyncBufferSize = 1 << 20
)

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{
		w:    w,
		full: make(chan []byte, asyncBuffers),
		free: make(chan []byte, asyncBuffers),
		done: make(chan struct{}),
	}
	for range asyncBuffers - 1 {
		a.free <- make([]byte, 0, asyncBufferSize)
	}
	a.cur = make([]byte, 0, asyncBufferSize)
	go a.drain()
	return a
}

func (a *asyncWriter) drain() {
	defer close(a.done)
	for b := range a.full {
		if a.failed() == nil {
			if _, err := a.w.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		a.free <- b[:0]
	}
}

func (a *asyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := a.failed(); err != nil {
			return written, err
		}
		n := copy(a.cur[len(a.cur):cap(a.cur)], p)
		a.cur = a.cur[:len(a.cur)+n]
		written += n
		p = p[n:]
		if len(a.cur) == cap(a.cur) {
			a.full <- a.cur
			a.cur = <-a.free
		}
	}
	return written, nil
}

// Close writes what is buffered, waits for the writes to finish and
// returns the first error. It does not close w.
func (a *asyncWriter) Close() error {
	if len(a.cur) > 0 {
		a.full <- a.cur
		a.cur = nil
	}
	close(a.full)
	<-a.done
	return a.failed()
}
