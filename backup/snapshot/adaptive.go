package snapshot

import (
	"math"
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
	// ChunkBytes, when set, is the size of the pieces the snapshot was cut
	// into and compressed in parallel: no frame holds more than that many
	// snapshot bytes, and every frame records its content size.
	ChunkBytes int64 `json:"chunk_bytes,omitempty"`
}

// frameChooser decides, message by message (etcd sends a snapshot in
// 32 KiB messages), whether the bytes go into a compressed frame or a
// stored one. It switches after switchAfter messages in a row that call
// for the other kind.
type frameChooser struct {
	raw bool // the current kind: stored
	run int  // messages in a row that called for the other kind
}

const (
	// switchAfter messages in a row (64 KiB) of the other kind switch the
	// kind of frame: a lone random message among compressible ones (an
	// encrypted Secret among ConfigMaps) is not worth ending a frame and
	// its matches for, nor is the half-empty last page of a large random
	// value worth leaving a stored frame for.
	switchAfter = 2
	// sampleMin is the smallest message that is sampled; smaller ones
	// follow the current choice.
	sampleMin = 4 << 10
	// sampleSize is how many bytes of a message looksRandom reads.
	sampleSize = 4 << 10
)

// stored reports whether the message p goes into a stored frame.
func (c *frameChooser) stored(p []byte) bool {
	if len(p) >= sampleMin {
		if looksRandom(p) != c.raw {
			c.run++
		} else {
			c.run = 0
		}
	}
	if c.run >= switchAfter {
		c.run = 0
		c.raw = !c.raw
	}
	return c.raw
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
