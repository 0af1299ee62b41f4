package snapshot

import (
	"encoding/binary"
	"io"
	"math"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
)

// Encoding records how a zstd data object was written. The object is a
// sequence of zstd frames, one after the other (RFC 8878 §3: a decoder
// reads concatenated frames as one stream; stock `zstd -d` does): zstd
// frames for what compresses, and stored frames, made of raw blocks, for
// stretches that a sample shows to be random, such as Secrets encrypted
// at rest. Stored frames cost a copy and an xxhash; compressing random
// bytes at zstd's fastest level costs about ten times that and saves
// nothing.
type Encoding struct {
	ZstdLevel string `json:"zstd_level"` // the level of the compressed frames
	Frames    int    `json:"frames"`     // zstd frames in the object, both kinds
	// StoredRaw is the number of snapshot bytes written as raw blocks,
	// uncompressed, because their sample did not compress.
	StoredRaw int64 `json:"stored_raw_bytes"`
}

// adaptiveWriter writes what it is given as zstd frames into w, choosing
// per write (etcd sends a snapshot in 32 KiB messages) between the
// compressor and stored frames. It switches after switchAfter writes in a
// row that call for the other kind.
type adaptiveWriter struct {
	w       io.Writer
	enc     *zstd.Encoder
	encUsed bool // enc has an open frame (written to since its last Close)
	raw     bool // a stored frame is open
	rawHash *xxhash.Digest
	run     int // writes in a row that called for the other kind of frame
	stats   Encoding
	hdr     [8]byte
}

const (
	// switchAfter writes in a row (64 KiB of etcd messages) of the other
	// kind switch the kind of frame: a lone random message among
	// compressible ones (an encrypted Secret among ConfigMaps) is not
	// worth ending a frame and its window for, nor is the half-empty last
	// page of a large random value worth leaving a stored frame for.
	switchAfter = 2
	// sampleMin is the smallest write that is sampled; smaller ones follow
	// the current choice.
	sampleMin = 4 << 10
	// sampleSize is how many bytes of a write looksRandom reads.
	sampleSize = 4 << 10
	// maxRawBlock is zstd's largest block (128 KiB).
	maxRawBlock = 128 << 10
)

func newAdaptiveWriter(w io.Writer, enc *zstd.Encoder, level zstd.EncoderLevel) *adaptiveWriter {
	return &adaptiveWriter{w: w, enc: enc, rawHash: xxhash.New(), stats: Encoding{ZstdLevel: level.String()}}
}

func (a *adaptiveWriter) Write(p []byte) (int, error) {
	if len(p) >= sampleMin {
		if looksRandom(p) != a.raw {
			a.run++
		} else {
			a.run = 0
		}
	}
	if a.run >= switchAfter {
		a.run = 0
		if a.raw {
			if err := a.endRaw(); err != nil {
				return 0, err
			}
		} else {
			if err := a.endZstd(); err != nil {
				return 0, err
			}
			if err := a.beginRaw(); err != nil {
				return 0, err
			}
		}
	}
	if a.raw {
		return a.writeRaw(p)
	}
	if !a.encUsed {
		a.enc.Reset(a.w)
		a.encUsed = true
		a.stats.Frames++
	}
	return a.enc.Write(p)
}

// Close ends the open frame. Nothing written is still one (empty) frame:
// zero bytes are not a zstd stream.
func (a *adaptiveWriter) Close() error {
	if a.raw {
		return a.endRaw()
	}
	if a.stats.Frames == 0 {
		a.enc.Reset(a.w)
		a.encUsed = true
		a.stats.Frames++
	}
	return a.endZstd()
}

// Encoding is what was written, once closed.
func (a *adaptiveWriter) Encoding() Encoding { return a.stats }

func (a *adaptiveWriter) endZstd() error {
	if !a.encUsed {
		return nil
	}
	a.encUsed = false
	return a.enc.Close()
}

// beginRaw writes a frame header: no content size (the length of the
// stretch is not known yet), a 128 KiB window (one raw block), and a
// content checksum, as the compressed frames have.
func (a *adaptiveWriter) beginRaw() error {
	a.raw = true
	a.rawHash.Reset()
	a.stats.Frames++
	binary.LittleEndian.PutUint32(a.hdr[:4], zstdMagic)
	a.hdr[4] = 1 << 2 // Frame_Header_Descriptor: Content_Checksum_flag
	a.hdr[5] = 7 << 3 // Window_Descriptor: 1 << (10+7) = 128 KiB
	_, err := a.w.Write(a.hdr[:6])
	return err
}

// writeRaw writes p as raw blocks of the open stored frame, straight from
// the caller's buffer.
func (a *adaptiveWriter) writeRaw(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), maxRawBlock)
		// Block_Header: Last_Block 0, Block_Type 0 (Raw_Block), Block_Size.
		putBlockHeader(a.hdr[:3], false, n)
		if _, err := a.w.Write(a.hdr[:3]); err != nil {
			return written, err
		}
		if _, err := a.w.Write(p[:n]); err != nil {
			return written, err
		}
		a.rawHash.Write(p[:n])
		a.stats.StoredRaw += int64(n)
		written += n
		p = p[n:]
	}
	return written, nil
}

// endRaw closes the stored frame the way libzstd ends a stream: an empty
// last raw block, then the low 32 bits of the xxhash64 of the content.
func (a *adaptiveWriter) endRaw() error {
	a.raw = false
	putBlockHeader(a.hdr[:3], true, 0)
	binary.LittleEndian.PutUint32(a.hdr[3:7], uint32(a.rawHash.Sum64()))
	_, err := a.w.Write(a.hdr[:7])
	return err
}

const zstdMagic = 0xFD2FB528

func putBlockHeader(b []byte, last bool, size int) {
	h := uint32(size) << 3 // Block_Type 0: Raw_Block
	if last {
		h |= 1
	}
	b[0], b[1], b[2] = byte(h), byte(h>>8), byte(h>>16)
}

// looksRandom reports whether p looks incompressible: the order-0 entropy
// of a 4 KiB sample (eight 512-byte pieces across p) is within 1/64 of 8
// bits a byte. Random bytes measure about 7.95 on such a sample; JSON and
// protobuf objects, bbolt branch pages and key runs measure well below
// 7.5. What the sample cannot see (random bytes repeated at a distance)
// stays uncompressed: the snapshot is larger, never wrong.
func looksRandom(p []byte) bool {
	const pieces, piece = 8, sampleSize / 8
	var hist [256]uint32
	step := len(p) / pieces
	n := 0
	for i := range pieces {
		s := p[i*step:]
		s = s[:min(piece, len(s))]
		for _, c := range s {
			hist[c]++
		}
		n += len(s)
	}
	// H = log2(n) - (1/n) Σ c·log2(c)
	var sum float64
	for _, c := range hist {
		sum += cLog2c[c]
	}
	entropy := math.Log2(float64(n)) - sum/float64(n)
	return entropy > 8*(1-1.0/64)
}

// cLog2c[c] is c·log2(c) for every count a sample's histogram can hold:
// 256 math.Log2 calls per 32 KiB message were a third of looksRandom.
var cLog2c = func() (t [sampleSize + 1]float64) {
	for c := 2; c <= sampleSize; c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()
