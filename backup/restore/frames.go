package restore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/k8sguard/k8sguard/backup/internal/zstdframe"
)

// decodeChunked decompresses an object written in independent chunks
// (snapshot.Encoding.ChunkBytes): it cuts the stream into its zstd frames,
// none larger than chunk bytes of content, decodes them on workers and
// writes the results to w in order. A streaming decoder works through one
// frame at a time; this is the snapshot's parallel compression read back
// the same way.
//
// Memory is bounded by the jobs in flight, each a frame and its content;
// a frame that claims or holds more than a chunk is refused as corrupt.
func decodeChunked(r io.Reader, w io.Writer, chunk, workers int) error {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(workers), // DecodeAll's decoders
		zstd.WithDecoderMaxMemory(uint64(chunk)),
		zstd.WithDecoderMaxWindow(uint64(max(chunk, zstd.MinWindowSize))),
	)
	if err != nil {
		return err
	}
	defer dec.Close()

	inflight := workers + 2
	free := make(chan *frameJob, inflight)
	for range inflight {
		free <- &frameJob{out: make([]byte, 0, chunk), done: make(chan struct{}, 1)}
	}
	work := make(chan *frameJob, inflight)
	order := make(chan *frameJob, inflight)
	stop := make(chan struct{})

	var wg sync.WaitGroup
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for j := range work {
				j.out, j.err = dec.DecodeAll(j.in, j.out[:0])
				j.done <- struct{}{}
			}
		}()
	}
	// The splitter reads frames until the stream ends, fails or is stopped.
	var splitErr error
	go func() {
		defer close(order)
		defer close(work)
		br := bufio.NewReaderSize(r, 256<<10)
		maxFrame := chunk + chunk/64 + 64<<10 // zstd's worst case, with headers
		for {
			var j *frameJob
			select {
			case j = <-free:
			case <-stop:
				return
			}
			j.in, splitErr = zstdframe.Read(br, j.in[:0], maxFrame)
			if splitErr != nil {
				if errors.Is(splitErr, io.EOF) {
					splitErr = nil
				}
				return
			}
			work <- j
			order <- j
		}
	}()

	var werr error
	frames := 0
	for j := range order {
		<-j.done
		if werr == nil {
			switch {
			case j.err != nil:
				werr = fmt.Errorf("frame %d: %w", frames+1, j.err)
			default:
				if _, err := w.Write(j.out); err != nil {
					werr = err
				}
			}
			if werr != nil {
				close(stop)
			}
		}
		frames++
		free <- j
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	if splitErr != nil {
		return fmt.Errorf("frame %d: %w", frames+1, splitErr)
	}
	if frames == 0 {
		return errors.New("no zstd frame in the object")
	}
	return nil
}

type frameJob struct {
	in, out []byte
	err     error
	done    chan struct{}
}
