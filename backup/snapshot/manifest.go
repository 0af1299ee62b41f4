// Package snapshot defines what an etcdguard snapshot is in the store: a
// data object and, written last as the commit marker, a JSON manifest.
// A data object without a manifest does not exist for list, check or
// restore.
package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/k8sguard/k8sguard/backup/internal/fanout"
	"github.com/k8sguard/k8sguard/backup/record"
	"github.com/k8sguard/k8sguard/backup/store"
)

// FormatVersion of the manifest; bumped on incompatible changes.
const FormatVersion = 1

// Compression values.
const (
	CompressionZstd = "zstd"
	CompressionNone = "none"
)

// Manifest describes one complete snapshot.
type Manifest struct {
	FormatVersion int       `json:"format_version"`
	Cluster       string    `json:"cluster"`
	DataKey       string    `json:"data_key"` // key of the data object, relative to the store root
	CreatedAt     time.Time `json:"created_at"`
	Revision      int64     `json:"revision"`
	EtcdVersion   string    `json:"etcd_version"`
	ClusterID     string    `json:"cluster_id"` // hex
	MemberID      string    `json:"member_id"`  // hex
	Compression   string    `json:"compression"`
	// Encoding says how a zstd object's frames were chosen (absent in
	// manifests from before adaptive encoding, and for "none").
	Encoding     *Encoding `json:"encoding,omitempty"`
	RawSize      int64     `json:"raw_size"`      // bytes of the etcd snapshot (.db)
	RawSHA256    string    `json:"raw_sha256"`    // hex sha256 of the .db bytes
	StoredSize   int64     `json:"stored_size"`   // bytes of the data object
	StoredSHA256 string    `json:"stored_sha256"` // hex sha256 of the data object
	Keys         int64     `json:"keys"`          // total keys at Revision
	// PrefixKeys counts keys under each top-level /registry/<resource>
	// prefix at Revision, e.g. "/registry/configmaps": 42.
	PrefixKeys  map[string]int64 `json:"prefix_keys"`
	ToolVersion string           `json:"tool_version"`
	// QuorumLost: taken with `etcdguard snapshot --quorum-lost` from a
	// member without a leader, the cluster's quorum lost for good.
	// Absent (false) in every other manifest: readers that predate it
	// ignore the field (decoding is not strict), so the format version
	// stays.
	QuorumLost bool `json:"quorum_lost,omitempty"`
}

// Name is the snapshot's name: the data key's base without extension,
// "20261122T031500Z-r1234".
func (m *Manifest) Name() string { return BaseName(m.DataKey) }

// ManifestKey is the manifest's key for a data key:
// "<prefix>/<cluster>/<time>-r<rev>.db.zst" → "<prefix>/<cluster>/<time>-r<rev>.json".
func ManifestKey(dataKey string) string {
	return strings.TrimSuffix(dataKey, path.Base(dataKey)) + BaseName(dataKey) + ".json"
}

// BaseName strips directory and the .db / .db.zst / .json extension.
func BaseName(key string) string {
	b := path.Base(key)
	for _, ext := range []string{".db.zst", ".db", ".json"} {
		if strings.HasSuffix(b, ext) {
			return strings.TrimSuffix(b, ext)
		}
	}
	return b
}

// DataKey returns the data object key for a snapshot of cluster taken at t
// at revision rev, under the cluster directory.
func DataKey(cluster string, t time.Time, rev int64, compression string) string {
	ext := ".db"
	if compression == CompressionZstd {
		ext = ".db.zst"
	}
	return fmt.Sprintf("%s/%s-r%d%s", cluster, t.UTC().Format("20060102T150405Z"), rev, ext)
}

// FreeDataKey returns key, or when a snapshot (data object or manifest)
// already holds it, the first free "<time>-r<rev>-N" (N = 2, 3, …) beside
// it: two snapshots in the same second at the same revision (a manual
// `etcdguard snapshot` right after the agent's) must not overwrite each
// other. The manifest is still "<same>.json" beside its data object.
func FreeDataKey(ctx context.Context, s store.Store, key string) (string, error) {
	ext := strings.TrimPrefix(path.Base(key), BaseName(key))
	stem := strings.TrimSuffix(key, ext)
	for n := 1; n < 1000; n++ {
		candidate := key
		if n > 1 {
			candidate = fmt.Sprintf("%s-%d%s", stem, n, ext)
		}
		taken := false
		for _, k := range []string{candidate, ManifestKey(candidate)} {
			_, err := s.Stat(ctx, k)
			if err == nil {
				taken = true
				break
			}
			if !errors.Is(err, store.ErrNotFound) {
				return "", fmt.Errorf("is %s free: %w", k, err)
			}
		}
		if !taken {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("no free key beside %s after 999 snapshots in one second", key)
}

// Write stores the manifest (the commit marker: call it last).
func Write(ctx context.Context, s store.Store, m *Manifest) error {
	key := ManifestKey(m.DataKey)
	if err := WriteJSON(ctx, s, key, m); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// Commit stores a small data object and then, as the commit marker, its
// JSON manifest: what `etcdguard` writes for every object that is not a
// streamed full snapshot (delta segments). When the manifest cannot be
// written the data object is removed again (best effort; cleanup removes
// what is left), so a failed Commit never looks complete.
func Commit(ctx context.Context, s store.Store, dataKey string, data []byte, manifestKey string, manifest any) error {
	if _, err := s.Put(ctx, dataKey, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("commit %s: %w", dataKey, err)
	}
	if err := WriteJSON(ctx, s, manifestKey, manifest); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		s.Delete(dctx, dataKey)
		return fmt.Errorf("commit %s: %w", dataKey, err)
	}
	return nil
}

// Read loads one manifest by its key.
func Read(ctx context.Context, s store.Store, key string) (*Manifest, error) {
	var m Manifest
	if err := ReadJSON(ctx, s, key, &m); err != nil {
		if me := (*record.MalformedError)(nil); !errors.As(err, &me) && !errors.Is(err, store.ErrNotFound) {
			return nil, &unreadError{err}
		}
		return nil, err
	}
	if m.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("manifest %s has format_version %d, this etcdguard reads %d", key, m.FormatVersion, FormatVersion)
	}
	return &m, nil
}

// unreadError is a manifest the store failed to return (unreachable,
// 5xx, a cut connection): unlike a damaged or missing one, it says nothing
// about the snapshot.
type unreadError struct{ err error }

func (e *unreadError) Error() string { return e.err.Error() }
func (e *unreadError) Unwrap() error { return e.err }

// Listing is what is in the store for one cluster.
type Listing struct {
	Snapshots []*Manifest    // complete snapshots, newest first
	Orphans   []store.Object // data objects without a manifest
	Broken    []error        // manifests that could not be read
}

// List reads every manifest of cluster, newest first, and reports data
// objects that have no manifest (interrupted uploads) separately.
func List(ctx context.Context, s store.Store, cluster string) (*Listing, error) {
	// Deeper keys belong to a snapshot's delta chain (package delta),
	// which lists them itself: thousands per snapshot.
	objs, err := s.ListDir(ctx, cluster+"/")
	if err != nil {
		return nil, err
	}
	manifests := map[string]bool{}
	var keys []string // the manifests' keys, in objs' order
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".json") {
			manifests[BaseName(o.Key)] = true
			keys = append(keys, o.Key)
		}
	}
	// The manifests are read fanout.Window at a time: one after
	// another, a store of a few hundred snapshots took seconds on S3, and
	// `check` lists it every time it runs.
	readNext, stop := fanout.Ordered(ctx, len(keys), fanout.Window, func(ctx context.Context, i int) (*Manifest, error) {
		return Read(ctx, s, keys[i])
	})
	defer stop()
	l := &Listing{}
	for _, o := range objs {
		switch {
		case strings.HasSuffix(o.Key, ".json"):
			m, err := readNext()
			if ue := (*unreadError)(nil); errors.As(err, &ue) || err != nil && ctx.Err() != nil {
				// The store failed to answer: that says nothing about
				// the manifest, and a complete snapshot must not be
				// listed as missing or broken.
				return nil, err
			}
			if err != nil {
				l.Broken = append(l.Broken, err)
				continue
			}
			l.Snapshots = append(l.Snapshots, m)
		case !manifests[BaseName(o.Key)]:
			l.Orphans = append(l.Orphans, o)
		}
	}
	sort.Slice(l.Snapshots, func(i, j int) bool {
		if !l.Snapshots[i].CreatedAt.Equal(l.Snapshots[j].CreatedAt) {
			return l.Snapshots[i].CreatedAt.After(l.Snapshots[j].CreatedAt)
		}
		if l.Snapshots[i].Revision != l.Snapshots[j].Revision {
			return l.Snapshots[i].Revision > l.Snapshots[j].Revision
		}
		// Same second, same revision: "-r7-2" was taken after "-r7".
		a, b := l.Snapshots[i].DataKey, l.Snapshots[j].DataKey
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a > b
	})
	return l, nil
}

// WriteJSON stores v as indented JSON at key: how every manifest is
// written (the commit marker of Write and Commit).
func WriteJSON(ctx context.Context, s store.Store, key string, v any) error {
	return record.WriteJSON(ctx, s, key, v)
}

// ReadJSON loads the JSON object at key into v (at most 1 MiB: manifests
// are small, and a mangled object must not exhaust memory). A missing key
// is store.ErrNotFound.
func ReadJSON(ctx context.Context, s store.Store, key string, v any) error {
	return record.ReadJSON(ctx, s, key, v)
}
