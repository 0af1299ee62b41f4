// Package store is the narrow interface etcdguard keeps snapshots behind:
// S3 (s3://bucket/prefix) and a local directory (file:///path, the embedded
// default) are interchangeable. Keys are slash-separated and relative to the
// store's root (the URL's prefix or directory).
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"
)

// ErrNotFound is returned (wrapped) when a key does not exist.
var ErrNotFound = errors.New("not found")

// Object describes one stored object.
type Object struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// Store keeps objects. An object written with Put is visible to Get and
// List only once Put has returned nil: a failed or killed Put never leaves
// a complete-looking object behind.
type Store interface {
	// Put streams r into key and returns the bytes written.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Get opens key for streaming; the caller closes it. Reads fail once
	// ctx ends, so a cancelled restore stops mid-object.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns key's size and time, or ErrNotFound.
	Stat(ctx context.Context, key string) (Object, error)
	// List returns the objects whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
	// ListDir returns the objects directly in dir (a prefix ending in
	// "/"), sorted by key: not those under a deeper "/". A cluster's
	// snapshots are listed without the thousands of delta segments in
	// their chains' directories beside them.
	ListDir(ctx context.Context, dir string) ([]Object, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// CleanupIncomplete removes what interrupted Puts left (stale multipart
	// uploads, partial files) older than olderThan, and reports how many.
	CleanupIncomplete(ctx context.Context, olderThan time.Time) (int, error)
	// String names the store without credentials, for logs.
	String() string
}

// Options configure Open: all but Create are for S3 stores.
type Options struct {
	// Create makes a file store's directory when it does not exist (the
	// agent and snapshot, which write the first snapshot into it); without
	// it a missing directory is an error, so a mistyped store.url is not
	// reported as an empty store (and not created) by commands that read.
	Create bool

	Region   string
	Endpoint string // S3-compatible endpoint; path-style addressing when set
	SSE      string // "", "AES256" or "aws:kms"
	KMSKeyID string
	// PartSize and Concurrency bound the memory of a streaming upload:
	// at most PartSize × (Concurrency + 1) bytes are buffered.
	PartSize    int64
	Concurrency int
}

// Open returns the store for a URL: file:///abs/dir or s3://bucket/prefix.
func Open(ctx context.Context, rawURL string, opts Options) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store url %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("store url %q: file URLs take an absolute path, file:///var/lib/etcdguard/snapshots", rawURL)
		}
		open := NewFile
		if !opts.Create {
			open = existingFile
		}
		f, err := open(u.Path)
		if err != nil {
			return nil, err // not a Store holding a nil *File
		}
		return f, nil
	case "s3":
		return openS3(ctx, u, opts)
	default:
		return nil, fmt.Errorf("store url %q: scheme must be s3:// or file://", rawURL)
	}
}
