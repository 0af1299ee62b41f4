package preflight

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk meta page (go.etcd.io/bbolt's internal/common): a 16-byte
// page header, then magic, version, page size, flags, root bucket (root
// page id, sequence), freelist page id, high-water page id, txid and an
// FNV-64a checksum of everything before it. bbolt validates these itself,
// but when one of its two meta pages is damaged it silently opens the
// other, one transaction older; the preflight reports the damage instead.
const (
	pageHeaderSize = 16
	metaMagic      = 0xED0CDAED
	metaVersion    = 2
	metaSumOffset  = 56 // checksum's offset within the meta
	metaSize       = metaSumOffset + 8
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64 // high-water mark: pages below it are in use
	txid     uint64
}

// readMeta decodes and validates meta page i (0 or 1) of f; pageSize is
// where page 1 starts (unknown for page 0).
func readMeta(f *os.File, i int, pageSize int64) (boltMeta, error) {
	buf := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(buf, int64(i)*pageSize); err != nil {
		if err == io.EOF {
			return boltMeta{}, fmt.Errorf("meta page %d: the file ends before it", i)
		}
		return boltMeta{}, fmt.Errorf("meta page %d: %w", i, err)
	}
	m := buf[pageHeaderSize:]
	le := binary.LittleEndian // bbolt writes native order; etcd runs on little-endian hosts
	if got := le.Uint32(m[0:]); got != metaMagic {
		return boltMeta{}, fmt.Errorf("meta page %d: magic %#x, want %#x (not a bbolt file, or overwritten)", i, got, metaMagic)
	}
	if got := le.Uint32(m[4:]); got != metaVersion {
		return boltMeta{}, fmt.Errorf("meta page %d: version %d, want %d", i, got, metaVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaSumOffset])
	if sum, want := le.Uint64(m[metaSumOffset:]), h.Sum64(); sum != want {
		return boltMeta{}, fmt.Errorf("meta page %d: checksum %#x, computed %#x (damaged)", i, sum, want)
	}
	return boltMeta{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, nil
}

// checkFile validates both meta pages and that the file holds every page
// below the high-water mark: bbolt maps more than the file, and touching
// a page past the end of a truncated file would crash the process.
func checkFile(path string) (boltMeta, error) {
	f, err := os.Open(path)
	if err != nil {
		return boltMeta{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return boltMeta{}, err
	}
	m0, err := readMeta(f, 0, 0)
	if err != nil {
		return boltMeta{}, err
	}
	m1, err := readMeta(f, 1, int64(m0.pageSize))
	if err != nil {
		return boltMeta{}, err
	}
	newest := m0
	if m1.txid > m0.txid {
		newest = m1
	}
	if need := int64(max(m0.pgid, m1.pgid)) * int64(newest.pageSize); fi.Size() < need {
		return newest, fmt.Errorf("truncated: %d bytes, but its %d pages of %d bytes need %d", fi.Size(), max(m0.pgid, m1.pgid), newest.pageSize, need)
	}
	return newest, nil
}
