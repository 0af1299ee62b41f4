package backup_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestDrillFromS3ExportsAndRemembersTheLastSuccess drills a snapshot of the
// real etcd binary stored in versitygw, then drills a corrupted copy: the
// failure is reported (exit 1, success 0) while the textfile keeps the time
// of the last success, read back from the record the first drill left in
// the bucket.
func TestDrillFromS3ExportsAndRemembersTheLastSuccess(t *testing.T) {
	etcd := infra.StartEtcd(t)
	bucket := infra.StartS3(t)
	for i := range 5 {
		put := exec.Command(infra.Tool(t, "etcdctl"), "--endpoints", etcd.Endpoints[0], "put", fmt.Sprintf("/registry/configmaps/default/c%d", i), "data")
		if out, err := put.CombinedOutput(); err != nil {
			t.Fatalf("etcdctl put: %v\n%s", err, out)
		}
	}
	cfgPath := filepath.Join(t.TempDir(), "etcdguard.yaml")
	incidentConfig(t, cfgPath, etcd.Endpoints[0], bucket)
	env := bucket.Env()
	cfg := []string{"--config", cfgPath}
	name := takenSnapshotName(t, mustRunEtcdguard(t, env, append([]string{"snapshot"}, cfg...)...))

	prom := filepath.Join(t.TempDir(), "etcdguard_drill.prom")
	out := mustRunEtcdguard(t, env, append([]string{"drill", "--json", "--textfile", prom, "--expect-prefix", "/registry/configmaps/default/"}, cfg...)...)
	var r struct {
		OK      bool    `json:"ok"`
		Seconds float64 `json:"seconds"`
		Phases  []struct {
			Phase   string  `json:"phase"`
			Seconds float64 `json:"seconds"`
		} `json:"phases"`
		Checks []struct {
			Name, Detail string
			OK           bool
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(jsonPart(out)), &r); err != nil || !r.OK || len(r.Phases) != 5 {
		t.Fatalf("drill --json: %v\n%s", err, out)
	}
	t.Logf("drill of %s passed in %.2fs: %+v", name, r.Seconds, r.Phases)
	first := metric(t, prom, `etcdguard_drill_last_success_timestamp_seconds{cluster="incident"}`)
	if first == "0" || metric(t, prom, `etcdguard_drill_success{cluster="incident"}`) != "1" {
		t.Fatalf("textfile after a passing drill:\n%s", readFile(t, prom))
	}

	flipObjectByte(t, bucket, "etcd/incident/"+name+".db.zst")
	failed := runEtcdguard(t, env, append([]string{"drill", "--textfile", prom}, cfg...)...)
	t.Logf("drill of the corrupted object → exit %d:\n%s", failed.Code, logBlock(failed.Output))
	if failed.Code != 1 || !strings.Contains(failed.Output, "): FAILED in ") ||
		!regexp.MustCompile(`drill of incident/`+name+`\.db\.zst: download: snapshot incident/`+name+`\.db\.zst is corrupt: sha256 of the stored object is`).MatchString(failed.Output) {
		t.Fatalf("corrupt drill not reported as failed in the download phase")
	}
	if metric(t, prom, `etcdguard_drill_success{cluster="incident"}`) != "0" {
		t.Errorf("success gauge not 0 after a failed drill:\n%s", readFile(t, prom))
	}
	if got := metric(t, prom, `etcdguard_drill_last_success_timestamp_seconds{cluster="incident"}`); got != first {
		t.Errorf("last success %s after a failed drill, want the earlier success %s", got, first)
	}
}

// jsonPart drops the log lines etcdguard writes to stderr before its JSON.
func jsonPart(out string) string {
	if i := strings.Index(out, "{"); i >= 0 {
		return out[i:]
	}
	return out
}

func metric(t *testing.T, path, series string) string {
	t.Helper()
	for _, line := range strings.Split(readFile(t, path), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	t.Fatalf("%s has no %s:\n%s", path, series, readFile(t, path))
	return ""
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
