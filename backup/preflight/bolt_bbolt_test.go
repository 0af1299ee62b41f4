package preflight

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestBoltMetaAgreesWithBbolt is differential: the preflight's own reading
// of bbolt's meta pages (bolt.go mirrors go.etcd.io/bbolt's internal
// Meta layout and Validate) against bbolt itself, at the pinned version,
// over generated databases (page sizes from 1 KiB to 64 KiB, both
// freelist types, freelist synced or not, random numbers of committed and
// rolled-back transactions).
//
//   - On an undamaged file, the newest meta it picks has bbolt's page size
//     (DB.Info), transaction ID (Tx.ID) and high-water mark (Tx.Size is
//     pgid × page size).
//   - With one bit flipped anywhere in the first bytes of the newest meta
//     page (page header, meta fields, checksum, and past it), it calls that
//     meta valid exactly when bbolt still opens at that transaction: bbolt
//     falls back to the older meta when it finds the newest invalid, which
//     is the silent step back the preflight exists to report.
func TestBoltMetaAgreesWithBbolt(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 3))
	dir := t.TempDir()
	pageSizes := []int{1024, 2048, 4096, 8192, 16384, 65536}
	dbs, flips, fellBack := 0, 0, 0
	for i := range 40 {
		path := filepath.Join(dir, fmt.Sprintf("db%d", i))
		opts := &bolt.Options{PageSize: pageSizes[r.IntN(len(pageSizes))], NoFreelistSync: r.IntN(2) == 0, NoSync: true,
			FreelistType: []bolt.FreelistType{bolt.FreelistArrayType, bolt.FreelistMapType}[r.IntN(2)]}
		generateBolt(t, path, opts, r)
		dbs++

		m, err := checkFile(path)
		if err != nil {
			t.Fatalf("db %d (%+v): checkFile: %v", i, opts, err)
		}
		pageSize, txid, size := bboltView(t, path)
		if int(m.pageSize) != pageSize || int(m.txid) != txid || int64(m.pgid)*int64(m.pageSize) != size {
			t.Fatalf("db %d (%+v): preflight reads page size %d, txid %d, %d pages (%d bytes); bbolt: page size %d, txid %d, %d bytes",
				i, opts, m.pageSize, m.txid, m.pgid, int64(m.pgid)*int64(m.pageSize), pageSize, txid, size)
		}

		// Which meta page is the newest, and the other's txid.
		newest, older := 0, 1
		if m1, err := readMeta(mustOpen(t, path), 1, int64(m.pageSize)); err == nil && m1.txid == m.txid {
			newest, older = 1, 0
		}
		om, err := readMeta(mustOpen(t, path), older, int64(m.pageSize))
		if err != nil {
			t.Fatalf("db %d: the older meta page %d: %v", i, older, err)
		}
		if om.txid == m.txid {
			continue // one transaction: both metas alike, no fallback to see
		}
		good, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for range 12 {
			bad := append([]byte(nil), good...)
			off := newest*int(m.pageSize) + r.IntN(pageHeaderSize+metaSize+16)
			bad[off] ^= 1 << r.IntN(8)
			damaged := filepath.Join(dir, "damaged")
			if err := os.WriteFile(damaged, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			flips++
			_, ourErr := readMeta(mustOpen(t, damaged), newest, int64(m.pageSize))
			_, txid, _ := bboltView(t, damaged)
			bboltValid := txid == int(m.txid)
			if bboltValid != (ourErr == nil) {
				t.Fatalf("db %d (page size %d): bit flipped at byte %d of meta page %d: preflight says %v, but bbolt opens at txid %d (newest %d, older %d)",
					i, m.pageSize, off-newest*int(m.pageSize), newest, ourErr, txid, m.txid, om.txid)
			}
			if !bboltValid {
				fellBack++
				if txid != int(om.txid) {
					t.Fatalf("db %d: bbolt opened the damaged file at txid %d, neither meta's", i, txid)
				}
				if _, err := checkFile(damaged); err == nil {
					t.Fatalf("db %d: checkFile passes a file whose newest meta bbolt finds invalid", i)
				}
			}
		}
	}
	t.Logf("%d databases, %d bit flips in the newest meta page, %d of which made bbolt fall back to the older meta", dbs, flips, fellBack)
	if fellBack == 0 || fellBack == flips {
		t.Fatalf("the generator is lopsided: %d of %d flips made bbolt fall back", fellBack, flips)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// bboltView is what bbolt makes of the file: page size, the transaction
// it opens at, and its high-water mark in bytes; txid -1 when it cannot
// open it.
func bboltView(t *testing.T, path string) (pageSize, txid int, size int64) {
	t.Helper()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		return 0, -1, 0
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		txid, size = tx.ID(), tx.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db.Info().PageSize, txid, size
}

// generateBolt writes a bbolt file with random buckets and keys over a
// random number of transactions, some rolled back.
func generateBolt(t *testing.T, path string, opts *bolt.Options, r *rand.Rand) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 1 + r.IntN(25) {
		tx, err := db.Begin(true)
		if err != nil {
			t.Fatal(err)
		}
		for range r.IntN(60) {
			b, err := tx.CreateBucketIfNotExists([]byte(fmt.Sprintf("b%d", r.IntN(4))))
			if err != nil {
				t.Fatal(err)
			}
			key := []byte(fmt.Sprintf("k%d", r.IntN(500)))
			if r.IntN(5) == 0 {
				err = b.Delete(key)
			} else {
				err = b.Put(key, make([]byte, r.IntN(1500)))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if r.IntN(6) == 0 {
			err = tx.Rollback()
		} else {
			err = tx.Commit()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
