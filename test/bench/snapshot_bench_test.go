package bench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/test/infra"
)

// BenchmarkSnapshotToS3 measures `etcdguard snapshot` into S3 (versitygw on
// the same disk) at 256 MiB and 1 GiB of etcd data against two baselines
// measured in the same run: `etcdctl snapshot save` to a local file, and
// the naive two-step (that save, then the file uploaded with the same SDK
// transfer manager). Targets (issue 5): wall ≤ 1.3 × etcdctl save and
// ≤ 0.6 × the two-step; peak RSS ≤ 64 MiB at both sizes; zstd keeping up
// with the read (the stage rates are printed).
//
// Run with `make bench` (it builds bin/etcdguard and sets K8SGUARD_BIN).
func BenchmarkSnapshotToS3(b *testing.B) {
	etcdguard := etcdguardBin(b)
	etcd := infra.StartEtcdWith(b, infra.EtcdOptions{QuotaBackendBytes: 8 << 30})
	s3 := infra.StartS3(b)
	env := append(s3.Env(),
		"ETCDGUARD_CONFIG=/dev/null",
		"ETCDGUARD_CLUSTER_NAME=bench",
		"ETCDGUARD_ETCD_ENDPOINTS="+etcd.Endpoints[0],
		"ETCDGUARD_STORE_URL=s3://"+s3.Bucket+"/snapshots",
		"ETCDGUARD_STORE_ENDPOINT="+s3.Endpoint,
		"ETCDGUARD_STORE_REGION="+s3.Region,
	)
	cli := etcdClient(b, etcd)
	uploader := store.NewS3(s3.Client, s3.Bucket, "naive", store.Options{})
	etcdctl := infra.Tool(b, "etcdctl")

	from := 0
	for _, mib := range []int{256, 1024} {
		fillEtcd(b, cli, from, mib)
		from = mib
		dir := b.TempDir()
		db := filepath.Join(dir, "snapshot.db")

		save := mustRun(b, nil, etcdctl, "--endpoints", etcd.Endpoints[0], "snapshot", "save", db)
		f, err := os.Open(db)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := uploader.Put(context.Background(), fmt.Sprintf("%d.db", mib), f); err != nil {
			b.Fatal(err)
		}
		upload := time.Since(start)
		f.Close()
		rawSize := snapFileSize(db)
		os.Remove(db)
		naive := save.wall + upload

		eg := mustRun(b, env, etcdguard, "snapshot")
		stats := snapSummary.FindStringSubmatch(eg.stdout)
		if stats == nil {
			b.Fatalf("no summary line in:\n%s", eg.out)
		}
		mibps := func(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }
		b.Logf("etcd data %d MiB, snapshot %.0f MiB:\n"+
			"  etcdctl snapshot save (local file):  %6.2fs  %5.1f MiB RSS  %4.0f MiB/s\n"+
			"  naive save + SDK upload:              %6.2fs  (upload alone %.2fs, %.0f MiB/s)\n"+
			"  etcdguard snapshot (to S3, zstd):     %6.2fs  %5.1f MiB RSS  stored %s MiB, ratio %s\n"+
			"    stages: etcd read %s MiB/s, zstd %s MiB/s, upload %s MiB/s\n"+
			"  ratios: etcdguard/etcdctl-save %.2f (target <= 1.3), etcdguard/naive %.2f (target <= 0.6), RSS %.1f MiB (target <= 64)",
			mib, float64(rawSize)/(1<<20),
			save.wall.Seconds(), float64(save.maxRSS)/(1<<20), mibps(rawSize, save.wall),
			naive.Seconds(), upload.Seconds(), mibps(rawSize, upload),
			eg.wall.Seconds(), float64(eg.maxRSS)/(1<<20), stats[2], stats[3],
			stats[4], stats[5], stats[6],
			eg.wall.Seconds()/save.wall.Seconds(), eg.wall.Seconds()/naive.Seconds(), float64(eg.maxRSS)/(1<<20))
		suffix := fmt.Sprintf("_%dMiB", mib)
		b.ReportMetric(eg.wall.Seconds()/save.wall.Seconds(), "x_etcdctl_save"+suffix)
		b.ReportMetric(eg.wall.Seconds()/naive.Seconds(), "x_naive"+suffix)
		b.ReportMetric(float64(eg.maxRSS)/(1<<20), "MiB_RSS"+suffix)
		if ratio, err := strconv.ParseFloat(stats[3], 64); err == nil {
			b.ReportMetric(ratio, "zstd_ratio"+suffix)
		}
	}
}

var snapSummary = regexp.MustCompile(`snapshot (\S+): .* MiB raw -> ([0-9.]+) MiB stored \(ratio ([0-9.]+)\) in [0-9.]+s; etcd read ([0-9]+) MiB/s, zstd ([0-9]+) MiB/s, upload ([0-9]+) MiB/s`)

func snapFileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
