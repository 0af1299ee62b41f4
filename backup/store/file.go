package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/k8sguard/k8sguard/backup/internal/durable"
)

// partialSuffix marks a file being written; it is renamed into place only
// when complete, so a killed writer leaves only a *.partial behind.
const partialSuffix = ".partial"

// File is a Store in a local directory.
type File struct{ dir string }

// NewFile returns a File store rooted at dir, creating it (0700).
func NewFile(dir string) (*File, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("file store %q: path must be absolute", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	return &File{dir: filepath.Clean(dir)}, nil
}

// existingFile returns a File store rooted at dir, which must exist.
func existingFile(dir string) (*File, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("file store %q: path must be absolute", dir)
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file store file://%s: the directory does not exist (a typo in store.url? the agent and 'etcdguard snapshot' create it with the first snapshot)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("file store file://%s: not a directory", dir)
	}
	return &File{dir: filepath.Clean(dir)}, nil
}

func (f *File) String() string { return "file://" + f.dir }

func (f *File) path(key string) (string, error) {
	p := filepath.Join(f.dir, filepath.FromSlash(key))
	if p != f.dir && !strings.HasPrefix(p, f.dir+string(filepath.Separator)) {
		return "", fmt.Errorf("key %q escapes the store", key)
	}
	return p, nil
}

// Put writes to key.partial, fsyncs, then renames into place.
func (f *File) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := f.path(key)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	tmp := p + partialSuffix
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	n, err := io.Copy(out, ctxReader{ctx, r})
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return n, fmt.Errorf("put %s: %w", key, err)
	}
	return n, durable.SyncDir(filepath.Dir(p))
}

// ctxReader stops a copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ctxReadCloser is an open file whose reads stop when ctx ends, as an S3
// response body's do.
type ctxReadCloser struct {
	ctxReader
	io.Closer
}

func (f *File) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	rc, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return ctxReadCloser{ctxReader{ctx, rc}, rc}, nil
}

func (f *File) Stat(_ context.Context, key string) (Object, error) {
	p, err := f.path(key)
	if err != nil {
		return Object{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Object{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return Object{Key: key, Size: fi.Size(), LastModified: fi.ModTime()}, nil
}

// List walks the directory the prefix names up to its last "/" (the
// whole store for a prefix without one), not the whole store.
func (f *File) List(_ context.Context, prefix string) ([]Object, error) {
	root, err := f.path(prefix[:strings.LastIndex(prefix, "/")+1])
	if err != nil {
		return nil, err
	}
	var out []Object
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if p == root && errors.Is(err, fs.ErrNotExist) && f.rootExists() {
			return fs.SkipAll // nothing under the prefix yet
		}
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, partialSuffix) {
			return nil
		}
		rel, _ := filepath.Rel(f.dir, p)
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: fi.Size(), LastModified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", f, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// rootExists tells a prefix with nothing under it yet from a store whose
// directory is gone (unmounted, removed): that must fail, not list empty.
func (f *File) rootExists() bool {
	fi, err := os.Stat(f.dir)
	return err == nil && fi.IsDir()
}

func (f *File) ListDir(_ context.Context, dir string) ([]Object, error) {
	if dir != "" && !strings.HasSuffix(dir, "/") {
		return nil, fmt.Errorf("list %s: %q is not a directory (no trailing /)", f, dir)
	}
	p, err := f.path(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) && f.rootExists() {
		return nil, nil // nothing in it yet
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", f, err)
	}
	var out []Object
	for _, d := range entries {
		if d.IsDir() || strings.HasSuffix(d.Name(), partialSuffix) {
			continue
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the directory was read
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", f, err)
		}
		out = append(out, Object{Key: dir + d.Name(), Size: fi.Size(), LastModified: fi.ModTime()})
	}
	return out, nil // os.ReadDir sorts by name
}

func (f *File) Delete(_ context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

func (f *File) CleanupIncomplete(_ context.Context, olderThan time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, partialSuffix) {
			return err
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().Before(olderThan) {
			if os.Remove(p) == nil {
				n++
			}
		}
		return nil
	})
	return n, err
}
