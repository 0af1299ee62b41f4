// Package zstdframe is the part of the zstd frame format (RFC 8878) that
// etcdguard handles itself, on both sides of a snapshot: writing stored
// frames (raw blocks, for data that does not compress) and finding where
// each frame of an object ends, so that frames can be decoded in parallel.
// Everything else is klauspost/compress's.
package zstdframe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cespare/xxhash/v2"
)

const (
	// Magic starts every zstd frame.
	Magic              = 0xFD2FB528
	skippableMagicMask = 0xFFFFFFF0
	skippableMagic     = 0x184D2A50
	// maxRawBlock is zstd's largest block (128 KiB).
	maxRawBlock = 128 << 10
)

// AppendStored appends p to dst as one zstd frame of raw blocks,
// written as libzstd writes one: a header with the content size, a
// window of one raw block, and a content checksum, as the compressed
// frames have; then the blocks; then the low 32 bits of the xxhash64 of
// the content.
func AppendStored(dst, p []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, Magic)
	// Frame_Header_Descriptor: Frame_Content_Size_flag 2 (4 bytes),
	// Content_Checksum_flag; Window_Descriptor: 1 << (10+7) = 128 KiB.
	dst = append(dst, 2<<6|1<<2, 7<<3)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p)))
	rest := p
	for {
		n := min(len(rest), maxRawBlock)
		dst = appendBlockHeader(dst, n == len(rest), n)
		dst = append(dst, rest[:n]...)
		rest = rest[n:]
		if len(rest) == 0 {
			break
		}
	}
	return binary.LittleEndian.AppendUint32(dst, uint32(xxhash.Sum64(p)))
}

// appendBlockHeader appends a Raw_Block header (Block_Type 0).
func appendBlockHeader(dst []byte, last bool, size int) []byte {
	h := uint32(size) << 3
	if last {
		h |= 1
	}
	return append(dst, byte(h), byte(h>>8), byte(h>>16))
}

// Read appends the next whole zstd frame from br to dst, walking its
// header and block headers (RFC 8878 §3.1), and returns io.EOF at the end
// of the stream. Skippable frames are skipped. A frame longer than limit
// bytes is an error, so a damaged header cannot make it buffer the object.
func Read(br *bufio.Reader, dst []byte, limit int) ([]byte, error) {
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
		if m != Magic {
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
