package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"
)

// inspectEnv makes a process the inspector child: bbolt reports some
// damage by panicking in goroutines of its own (rebuilding the freelist
// etcd does not persist, walking a damaged page), which no recover can
// catch, and a damaged page can fault the memory map. So the database is
// read in a child process (this same binary), and a crash there is one
// more way of saying "corrupt".
const inspectEnv = "ETCDGUARD_PREFLIGHT_INSPECT"

// ServeChild turns this process into the inspector child when it was
// started as one: it inspects the database the environment names, prints
// the result as JSON and exits. Call it first in main (and in TestMain of
// tests that run the preflight); otherwise it returns at once.
func ServeChild() {
	db := os.Getenv(inspectEnv)
	if db == "" {
		return
	}
	found, err := inspect(db)
	if err != nil {
		found.Problem = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(found)
	os.Exit(0)
}

// inspected is what the child found.
type inspected struct {
	Revision                 int64
	CompactRevision          int64
	ScheduledCompactRevision int64
	ConsistentIndex          uint64
	// Term is the raft term of the entry at ConsistentIndex: with it, the
	// position in the raft log of what the database applied.
	Term uint64
	Keys int64
	// Members are the cluster's members as the database last knew them
	// (etcd's members bucket): where to ask whether a quorum is up.
	Members []Member
	Problem string // the database is corrupt: why
	Locked  bool   // another process (etcd) holds it
}

// Member is one member of the cluster in etcd's members bucket (the JSON
// etcd stores there: its raft attributes and the client URLs it published).
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

// inspectInChild runs inspect in a child process.
func inspectInChild(ctx context.Context, db string) (inspected, error) {
	exe, err := os.Executable()
	if err != nil {
		return inspected{}, fmt.Errorf("find this program to inspect %s in a child process: %w", db, err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), inspectEnv+"="+db)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var found inspected
	if runErr == nil && json.Unmarshal(stdout.Bytes(), &found) == nil {
		switch {
		case found.Locked:
			return found, fmt.Errorf("database %s is locked: is etcd running on it? (the preflight runs before etcd starts)", db)
		case found.Problem != "":
			return found, &Problem{Corrupt, fmt.Sprintf("database %s is corrupt: %s", db, found.Problem)}
		}
		return found, nil
	}
	if ctx.Err() != nil {
		return found, fmt.Errorf("inspect %s: %w", db, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		return found, &Problem{Corrupt, fmt.Sprintf("database %s is corrupt: reading it crashed bbolt (%s)", db, crashLine(stderr.String(), runErr))}
	}
	return found, fmt.Errorf("inspect %s in a child process: %v (%s)", db, runErr, strings.TrimSpace(stderr.String()))
}

// crashLine picks the line of a Go crash that says what happened.
func crashLine(stderr string, err error) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") || strings.HasPrefix(l, "unexpected fault address") {
			return strings.TrimSpace(l)
		}
	}
	return err.Error()
}

// inspect opens the database read-only, runs bbolt's own consistency
// check and reads etcd's revisions from it, decoding every key revision.
func inspect(path string) (inspected, error) {
	var found inspected
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		found.Locked = true
		return found, nil
	}
	if err != nil {
		return found, fmt.Errorf("bbolt cannot open it: %w", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			// The first error names the damage; the rest often follow from it.
			return fmt.Errorf("bbolt check: %w", err)
		}
		meta := tx.Bucket(schema.Meta.Name())
		keys := tx.Bucket(schema.Key.Name())
		if meta == nil || keys == nil {
			return fmt.Errorf("no %q or %q bucket: not an etcd v3 database", schema.Meta.Name(), schema.Key.Name())
		}
		if v := meta.Get(schema.MetaConsistentIndexKeyName); len(v) == 8 {
			found.ConsistentIndex = beUint64(v)
		}
		if v := meta.Get(schema.MetaTermKeyName); len(v) == 8 {
			found.Term = beUint64(v)
		}
		if v := meta.Get(schema.FinishedCompactKeyName); v != nil {
			found.CompactRevision = mvcc.BytesToRev(v).Main
		}
		if v := meta.Get(schema.ScheduledCompactKeyName); v != nil {
			found.ScheduledCompactRevision = mvcc.BytesToRev(v).Main
		}
		found.Members = members(tx)
		return keys.ForEach(func(k, v []byte) error {
			if err := checkRevision(k, v); err != nil {
				return fmt.Errorf("key revision %x: %w", k, err)
			}
			found.Keys++
			found.Revision = max(found.Revision, mvcc.BytesToRev(k).Main)
			return nil
		})
	})
	return found, err
}

// checkRevision checks one entry of etcd's key bucket: a revision key
// (main, '_', sub, and 't' for a tombstone) whose record decodes and
// carries the same revision (a tombstone's record carries only its key). The one record without a key is the marker
// `etcdutl snapshot restore --bump-revision` writes (an empty value at the
// bumped revision, which etcd reads as "the revision is at least this"):
// every restore etcdguard makes by default has one.
func checkRevision(k, v []byte) error {
	if len(k) != 17 && !(len(k) == 18 && k[17] == 't') || k[8] != '_' {
		return fmt.Errorf("not a revision key (%d bytes)", len(k))
	}
	if len(v) == 0 && len(k) == 17 {
		return nil
	}
	var kv mvccpb.KeyValue
	if err := kv.Unmarshal(v); err != nil {
		return fmt.Errorf("record does not decode: %w", err)
	}
	if len(k) == 18 && kv.ModRevision == 0 {
		// A tombstone: etcd writes a deletion as a record holding only
		// the key (mvccpb.KeyValue{Key: key}), without its revision.
		if len(kv.Key) == 0 {
			return errors.New("tombstone record without its key")
		}
		return nil
	}
	if rev := mvcc.BytesToRev(k).Main; kv.ModRevision != rev {
		return fmt.Errorf("record says revision %d, its key %d", kv.ModRevision, rev)
	}
	return nil
}

// members reads etcd's members bucket. A record that does not decode is
// skipped: the list only says whom to ask whether a quorum is up.
func members(tx *bolt.Tx) []Member {
	b := tx.Bucket(schema.Members.Name())
	if b == nil {
		return nil
	}
	var ms []Member
	b.ForEach(func(_, v []byte) error {
		var m Member
		if json.Unmarshal(v, &m) == nil && m.ID != 0 {
			ms = append(ms, m)
		}
		return nil
	})
	return ms
}

func beUint64(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}
