package bench_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/k8sguard/k8sguard/test/infra"
)

// restoreVersusBaseline restores the section's last snapshot with
// `etcdguard restore` and, in turn with it (inTurn; every measured program
// starts after settle), the baseline: plains3 downloads the object, stock
// `zstd -d` decompresses it (timed apart, not part of the baseline, which
// is the stricter for it), `etcdutl snapshot restore` restores the .db.
// Outputs are removed after each run so every run starts with the same
// memory to write into. Both bump the revision by the same amount and mark
// it compacted, etcdguard's default on restore (etcdutl's --bump-revision
// --mark-compacted): the same work on each side.
func restoreVersusBaseline(b *testing.B, t *tools, cfg benchConfig, bucket *infra.S3, env []string, s *section) {
	work := b.TempDir()
	m := manifestOf(b, bucket, "snapshots/bench/"+s.snapshot+".json")
	obj := filepath.Join(work, "object.db.zst")
	db := filepath.Join(work, "snapshot.db")
	var downloads, unzstds, utls, bases, ours []measured
	for run := range cfg.runs {
		baseline := func() {
			settle()
			dl := mustRun(b, bucket.Env(), t.plains3, "get", bucket.Endpoint, bucket.Bucket, "snapshots/"+m.DataKey, obj)
			settle()
			unz := mustRun(b, nil, t.zstd, "-q", "-d", obj, "-o", db)
			settle()
			utl := mustRun(b, nil, t.etcdutl, "snapshot", "restore", db, "--data-dir", filepath.Join(work, "baseline"),
				"--bump-revision", restoreBump, "--mark-compacted")
			removeAll(b, obj, db, filepath.Join(work, "baseline"))
			downloads, unzstds, utls = append(downloads, dl.measured()), append(unzstds, unz.measured()), append(utls, utl.measured())
			bases = append(bases, dl.measured().plus(utl.measured()))
		}
		restore := func() {
			settle()
			r := mustRun(b, profiled(env, s, "restore"), t.etcdguard, "restore", "--snapshot", s.snapshot, "--data-dir", filepath.Join(work, "restored"),
				"--bump-revision", restoreBump)
			removeAll(b, filepath.Join(work, "restored"))
			ours = append(ours, r.measured())
			s.restoreOut = r.stdout
		}
		inTurn(run, baseline, restore)
	}
	s.download, s.unzstd, s.utl = median(downloads), median(unzstds), median(utls)
	s.restoreBase, s.restore = median(bases), median(ours)
}

// restoreBump is the revision bump of both restores: etcdguard's floor
// when no agent has recorded a watermark.
const restoreBump = "1000000000"

// manifest is the part of an etcdguard manifest the bench reads.
type manifest struct {
	DataKey    string `json:"data_key"`
	RawSize    int64  `json:"raw_size"`
	StoredSize int64  `json:"stored_size"`
}

func manifestOf(b *testing.B, bucket *infra.S3, key string) manifest {
	b.Helper()
	out, err := bucket.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket.Bucket, Key: &key})
	if err != nil {
		b.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	var m manifest
	if err := json.NewDecoder(out.Body).Decode(&m); err != nil {
		b.Fatalf("manifest %s: %v", key, err)
	}
	return m
}

func removeAll(b *testing.B, paths ...string) {
	b.Helper()
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			b.Fatal(err)
		}
	}
}
