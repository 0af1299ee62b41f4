package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"

	"github.com/k8sguard/k8sguard/test/infra"
)

// BenchmarkRestoreFromS3 measures `etcdguard restore` of a 1 GiB etcd
// snapshot stored in S3 (versitygw) against its baseline measured in the
// same run: a plain download of the object plus `etcdutl snapshot restore`
// of a local copy. Targets (issue 6): wall time ≤ 1.25 × baseline (the
// pipeline streams) and peak RSS ≤ 1.2 × etcdutl's. It then drills a
// 256 MiB snapshot and prints the RTO breakdown.
//
// Run with `make bench` (it builds bin/etcdguard and sets K8SGUARD_BIN).
func BenchmarkRestoreFromS3(b *testing.B) {
	etcdguard := etcdguardBin(b)
	etcd := infra.StartEtcdWith(b, infra.EtcdOptions{QuotaBackendBytes: 8 << 30})
	bucket := infra.StartS3(b)
	cfgPath := filepath.Join(b.TempDir(), "etcdguard.yaml")
	cfg := fmt.Sprintf("cluster_name: bench\netcd:\n  endpoints: [%q]\nstore:\n  url: s3://%s/etcd\n  endpoint: %s\n  region: %s\n",
		etcd.Endpoints[0], bucket.Bucket, bucket.Endpoint, bucket.Region)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	env := append(bucket.Env(), "ETCDGUARD_CONFIG="+cfgPath)

	cli := etcdClient(b, etcd)

	// 256 MiB first, for the drill; then up to 1 GiB for the restore.
	fillEtcd(b, cli, 0, 256)
	small := snapshotName(b, mustRun(b, env, etcdguard, "snapshot").out)
	fillEtcd(b, cli, 256, 1024)
	big := snapshotName(b, mustRun(b, env, etcdguard, "snapshot").out)

	b.ResetTimer()
	for range b.N {
		restoreVersusBaseline(b, env, etcdguard, bucket, big)
		drillBreakdown(b, env, etcdguard, small)
	}
}

func restoreVersusBaseline(b *testing.B, env []string, etcdguard string, bucket *infra.S3, name string) {
	work := b.TempDir()
	key := "etcd/bench/" + name + ".db.zst"
	obj := filepath.Join(work, "object.db.zst")
	db := filepath.Join(work, "snapshot.db")

	download := func() time.Duration {
		start := time.Now()
		out, err := bucket.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket.Bucket, Key: &key})
		if err != nil {
			b.Fatalf("get %s: %v", key, err)
		}
		defer out.Body.Close()
		f, err := os.Create(obj)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(f, out.Body); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// Each side runs twice, alternating, and its faster run counts: on a
	// shared two-core machine the page cache and the neighbours' load
	// change under a single run. Outputs are removed after each run so
	// every run starts with the same memory to write into.
	var (
		best    = map[string]time.Duration{}
		rss     = map[string]int64{}
		dlTime  time.Duration
		utlTime time.Duration
		ours    runResult
	)
	keep := func(side string, d time.Duration, maxRSS int64) {
		if best[side] == 0 || d < best[side] {
			best[side] = d
		}
		rss[side] = max(rss[side], maxRSS)
	}
	for range 2 {
		dl := download()
		decompress(b, obj, db) // preparing the local copy is not timed
		r := mustRun(b, nil, infra.Tool(b, "etcdutl"), "snapshot", "restore", db, "--data-dir", filepath.Join(work, "baseline"))
		if best["baseline"] == 0 || dl+r.wall < best["baseline"] {
			dlTime, utlTime = dl, r.wall
		}
		keep("baseline", dl+r.wall, r.maxRSS)
		removeAll(b, obj, db, filepath.Join(work, "baseline"))

		r = mustRun(b, env, etcdguard, "restore", "--snapshot", name, "--data-dir", filepath.Join(work, "restored"))
		if best["etcdguard"] == 0 || r.wall < best["etcdguard"] {
			ours = r
		}
		keep("etcdguard", r.wall, r.maxRSS)
		removeAll(b, filepath.Join(work, "restored"))
	}
	b.Logf("etcdguard restore (its faster run):\n%s", ours.stdout)

	m := manifestSizes(b, bucket, "etcd/bench/"+name+".json")
	wallRatio := best["etcdguard"].Seconds() / best["baseline"].Seconds()
	rssRatio := float64(rss["etcdguard"]) / float64(rss["baseline"])
	b.Logf(`restore of a %d MiB snapshot (%d MiB stored, zstd) from S3 (versitygw), best of 2 runs each:
  baseline           download %.2fs + etcdutl snapshot restore %.2fs = %.2fs, etcdutl peak RSS %d MiB
  etcdguard restore  %.2fs, peak RSS %d MiB
  wall time ratio %.2f (target <= 1.25)   peak RSS ratio %.2f (target <= 1.20)`,
		m.RawSize>>20, m.StoredSize>>20, dlTime.Seconds(), utlTime.Seconds(), best["baseline"].Seconds(), rss["baseline"]>>20,
		best["etcdguard"].Seconds(), rss["etcdguard"]>>20, wallRatio, rssRatio)
	b.ReportMetric(wallRatio, "wall/baseline")
	b.ReportMetric(rssRatio, "rss/etcdutl")
	if wallRatio > 1.25 {
		b.Errorf("etcdguard restore took %.2f × the baseline (target ≤ 1.25)", wallRatio)
	}
	if rssRatio > 1.2 {
		b.Errorf("etcdguard restore peaked at %.2f × etcdutl's RSS (target ≤ 1.2)", rssRatio)
	}
}

type sizes struct {
	RawSize    int64 `json:"raw_size"`
	StoredSize int64 `json:"stored_size"`
}

func manifestSizes(b *testing.B, bucket *infra.S3, key string) sizes {
	b.Helper()
	out, err := bucket.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket.Bucket, Key: &key})
	if err != nil {
		b.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	var s sizes
	if err := json.NewDecoder(out.Body).Decode(&s); err != nil {
		b.Fatalf("manifest %s: %v", key, err)
	}
	return s
}

func removeAll(b *testing.B, paths ...string) {
	b.Helper()
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			b.Fatal(err)
		}
	}
}

func drillBreakdown(b *testing.B, env []string, etcdguard, name string) {
	r := mustRun(b, env, etcdguard, "drill", "--snapshot", name, "--json", "--work-dir", b.TempDir(),
		"--expect-prefix", "/registry/secrets/bench/")
	var rep struct {
		RawSize int64 `json:"raw_size"`
		Phases  []struct {
			Phase   string  `json:"phase"`
			Seconds float64 `json:"seconds"`
		} `json:"phases"`
		Seconds float64 `json:"seconds"`
		OK      bool    `json:"ok"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.OK {
		b.Fatalf("drill: %v\n%s", err, r.out)
	}
	var parts []string
	for _, p := range rep.Phases {
		parts = append(parts, fmt.Sprintf("%s %.2fs", p.Phase, p.Seconds))
	}
	b.Logf("drill of a %d MiB snapshot: RTO %.2fs = %s (peak RSS %d MiB)", rep.RawSize>>20, rep.Seconds, strings.Join(parts, " + "), r.maxRSS>>20)
	b.ReportMetric(rep.Seconds, "drill-rto-s")
}

func decompress(b *testing.B, src, dst string) {
	b.Helper()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	dec, err := zstd.NewReader(in)
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, dec); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

var snapshotLine = regexp.MustCompile(`(?m)^snapshot (\S+): revision`)

func snapshotName(b *testing.B, out string) string {
	b.Helper()
	m := snapshotLine.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no snapshot name in:\n%s", out)
	}
	return m[1]
}
