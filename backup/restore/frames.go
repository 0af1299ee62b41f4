package restore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
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
			j.in, splitErr = readFrame(br, j.in[:0], maxFrame)
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

const (
	zstdMagic          = 0xFD2FB528
	skippableMagicMask = 0xFFFFFFF0
	skippableMagic     = 0x184D2A50
)

// readFrame appends the next whole zstd frame from br to dst, walking its
// header and block headers (RFC 8878 §3.1), and returns io.EOF at the end
// of the stream. Skippable frames are skipped. A frame longer than limit
// bytes is an error, so a damaged header cannot make it buffer the object.
func readFrame(br *bufio.Reader, dst []byte, limit int) ([]byte, error) {
	for {
		magic, err := br.Peek(4)
		if len(magic) == 0 && errors.Is(err, io.EOF) {
			return dst, io.EOF
		}
		if err != nil {
			return dst, fmt.Errorf("truncated frame magic: %w", unexpected(err))
		}
		m := binary.LittleEndian.Uint32(magic)
		if m&skippableMagicMask == skippableMagic {
			hdr, err := br.Peek(8)
			if err != nil {
				return dst, fmt.Errorf("truncated skippable frame: %w", unexpected(err))
			}
			n := int64(binary.LittleEndian.Uint32(hdr[4:]))
			if _, err := br.Discard(8); err != nil {
				return dst, err
			}
			if d, err := io.CopyN(io.Discard, br, n); err != nil {
				return dst, fmt.Errorf("truncated skippable frame (%d of %d bytes): %w", d, n, unexpected(err))
			}
			continue
		}
		if m != zstdMagic {
			return dst, fmt.Errorf("not a zstd frame (magic %08x)", m)
		}
		break
	}
	take := func(n int) ([]byte, error) {
		if len(dst)+n > limit {
			return nil, fmt.Errorf("frame larger than %d bytes", limit)
		}
		start := len(dst)
		dst = slices.Grow(dst, n)[:start+n]
		if _, err := io.ReadFull(br, dst[start:]); err != nil {
			return nil, fmt.Errorf("truncated frame: %w", unexpected(err))
		}
		return dst[start:], nil
	}
	hdr, err := take(5)
	if err != nil {
		return dst, err
	}
	fhd := hdr[4]
	fcsFlag, single, checksum, dictFlag := fhd>>6, fhd&(1<<5) != 0, fhd&(1<<2) != 0, fhd&3
	if fhd&(1<<3) != 0 {
		return dst, errors.New("frame header's reserved bit is set")
	}
	n := [4]int{0, 1, 2, 4}[dictFlag] + [4]int{0, 2, 4, 8}[fcsFlag]
	if !single {
		n++ // Window_Descriptor
	} else if fcsFlag == 0 {
		n++ // a one-byte content size
	}
	if _, err := take(n); err != nil {
		return dst, err
	}
	for {
		bh, err := take(3)
		if err != nil {
			return dst, err
		}
		h := uint32(bh[0]) | uint32(bh[1])<<8 | uint32(bh[2])<<16
		last, typ, size := h&1 != 0, (h>>1)&3, int(h>>3)
		switch typ {
		case 1: // RLE_Block: one byte, repeated size times
			size = 1
		case 3:
			return dst, errors.New("reserved block type")
		}
		if _, err := take(size); err != nil {
			return dst, err
		}
		if last {
			break
		}
	}
	if checksum {
		if _, err := take(4); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
