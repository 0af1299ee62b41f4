package modules_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gruntwork-io/terratest/modules/terraform"
	clientv3 "go.etcd.io/etcd/client/v3"
	"gopkg.in/yaml.v3"

	"github.com/k8sguard/k8sguard/backup/systemd"
	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

const etcdBackupFixture = "test/modules/testdata/etcd_backup"

// TestEtcdBackupModuleConfigDrivesEtcdguard applies the module on moto,
// then runs the real etcdguard with nothing but the rendered configuration:
// strict decoding accepts it, `check` reaches the new bucket and reports
// the missing snapshot (CRITICAL, not a configuration error), `snapshot`
// writes one from a real etcd under the module's prefix, and `check` is OK.
// The cloud-init output carries exactly that configuration and the shipped
// unit files.
func TestEtcdBackupModuleConfigDrivesEtcdguard(t *testing.T) {
	tg := fixture.Moto(t)
	etcd := infra.StartEtcd(t)
	putKeys(t, etcd.Endpoints, 20)
	etcdguard := infra.Etcdguard(t)

	opts := tg.Terraform(t, etcdBackupFixture, map[string]any{
		"bucket_name":    fixture.Unique("etcd-backup"),
		"etcd_endpoints": etcd.Endpoints,
	})
	t.Cleanup(func() { terraform.DestroyContext(t, context.Background(), opts) })
	terraform.InitAndApplyContext(t, t.Context(), opts)

	bucket := terraform.OutputContext(t, t.Context(), opts, "bucket")
	if got, want := terraform.OutputContext(t, t.Context(), opts, "store_url"), "s3://"+bucket+"/prod-eu1/"; got != want {
		t.Errorf("store_url = %q, want %q (the cluster name is the default prefix)", got, want)
	}
	if policy := terraform.OutputContext(t, t.Context(), opts, "agent_policy_json"); !strings.Contains(policy, "arn:aws:s3:::"+bucket+"/prod-eu1/*") {
		t.Errorf("agent_policy_json is not scoped to the module's prefix:\n%s", policy)
	}
	infra.ExpectNoChanges(t, opts, "after apply")

	// moto cannot evaluate the bucket policy's conditions (aws:SecureTransport,
	// the Null test on x-amz-server-side-encryption): it answers 403 to every
	// object request under it, even over TLS with the encryption header. The
	// policy is asserted in test/aws; here it is lifted so etcdguard can run.
	if _, err := tg.S3.DeleteBucketPolicy(context.Background(), &s3.DeleteBucketPolicyInput{Bucket: &bucket}); err != nil {
		t.Fatalf("lift the bucket policy for moto: %v", err)
	}

	configYAML := terraform.OutputContext(t, t.Context(), opts, "config_yaml")
	configFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(configFile, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, etcdguard, args...)
		cmd.Env = append(os.Environ(), tg.Env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return out.String(), 0
		case errors.As(err, &exit):
			return out.String(), exit.ExitCode()
		default:
			t.Fatalf("etcdguard %v: %v\n%s", args, err, out.String())
			return "", -1
		}
	}

	out, code := run("check", "--config", configFile)
	if code != 2 || !strings.Contains(out, `no complete snapshot of cluster "prod-eu1"`) {
		t.Fatalf("etcdguard check on the empty bucket: exit %d, want 2 (CRITICAL: no snapshot), with the rendered config:\n%s\n--- config.yaml\n%s", code, out, configYAML)
	}
	if out, code := run("snapshot", "--config", configFile); code != 0 {
		t.Fatalf("etcdguard snapshot with the rendered config: exit %d\n%s\n--- config.yaml\n%s", code, out, configYAML)
	}
	keys, err := tg.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatalf("list %s: %v", bucket, err)
	}
	if len(keys.Contents) == 0 {
		t.Fatalf("bucket %s is empty after etcdguard snapshot", bucket)
	}
	for _, o := range keys.Contents {
		if !strings.HasPrefix(*o.Key, "prod-eu1/") {
			t.Errorf("object %s is outside the module's prefix prod-eu1/ (the agent policy would refuse it on AWS)", *o.Key)
		}
	}
	if out, code := run("check", "--config", configFile); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("etcdguard check after a snapshot: exit %d, want 0 OK\n%s", code, out)
	}

	// The cloud-init document installs what was just proven to work.
	ci := parseCloudInit(t, terraform.OutputContext(t, t.Context(), opts, "cloud_init"))
	files := ci.files()
	if files["/etc/etcdguard/config.yaml"] != configYAML {
		t.Errorf("cloud-init /etc/etcdguard/config.yaml differs from config_yaml:\n%s", files["/etc/etcdguard/config.yaml"])
	}
	agentUnit, _ := fs.ReadFile(systemd.Units, systemd.Agent)
	if files["/etc/systemd/system/etcdguard.service"] != string(agentUnit) {
		t.Errorf("cloud-init etcdguard.service differs from backup/systemd's")
	}
	if len(files) != 2 {
		t.Errorf("cloud-init (agent mode) writes %d files, want the config and etcdguard.service: %v", len(files), slices.Collect(maps.Keys(files)))
	}
	ci.requireRun(t, "sha256sum -c", "systemctl enable --now --no-block etcdguard.service")

	// Timer mode: the one-shot service and its timer instead of the agent.
	opts.Vars["mode"] = "timer"
	terraform.ApplyContext(t, t.Context(), opts)
	ci = parseCloudInit(t, terraform.OutputContext(t, t.Context(), opts, "cloud_init"))
	files = ci.files()
	for _, u := range []string{systemd.Snapshot, systemd.SnapshotTimer} {
		want, _ := fs.ReadFile(systemd.Units, u)
		if files["/etc/systemd/system/"+u] != string(want) {
			t.Errorf("cloud-init (timer mode) lacks backup/systemd's %s", u)
		}
	}
	if _, ok := files["/etc/systemd/system/etcdguard.service"]; ok {
		t.Errorf("cloud-init (timer mode) also installs the agent: run one or the other")
	}
	ci.requireRun(t, "systemctl enable --now --no-block etcdguard-snapshot.timer")

	// kubeadm's TLS files: the agent unit plus the drop-in that lets its
	// dynamic user read the root-only client key, verified by systemd.
	opts.Vars["mode"] = "agent"
	opts.Vars["kubeadm_tls"] = true
	terraform.ApplyContext(t, t.Context(), opts)
	ci = parseCloudInit(t, terraform.OutputContext(t, t.Context(), opts, "cloud_init"))
	const key = "/etc/kubernetes/pki/etcd/healthcheck-client.key"
	ci.requireRun(t, "groupadd --system etcd-backup; chgrp etcd-backup "+key+" && chmod 0640 "+key, "systemctl enable --now --no-block etcdguard.service")
	verifyUnits(t, etcdguard, ci.files(), systemd.Agent)
}

// verifyUnits writes the cloud-init's files under /etc/systemd/system into
// a unit directory (ExecStart pointing at the built etcdguard) and runs
// `systemd-analyze verify` on unit: it reads the drop-ins in unit.d/ too and
// reports an unknown key there, so any output fails the test.
func verifyUnits(t *testing.T, etcdguard string, files map[string]string, unit string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is not installed; it is part of systemd on every supported machine")
	}
	dir := t.TempDir()
	var dropIns []string
	for p, content := range files {
		rel, ok := strings.CutPrefix(p, "/etc/systemd/system/")
		if !ok {
			continue
		}
		if strings.Contains(rel, ".d/") {
			dropIns = append(dropIns, rel)
		}
		target := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		content = strings.ReplaceAll(content, "/usr/local/bin/etcdguard", etcdguard)
		if err := os.WriteFile(target, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(dropIns) != 1 || !strings.HasPrefix(dropIns[0], unit+".d/") {
		t.Fatalf("cloud-init drop-ins = %v, want one for %s", dropIns, unit)
	}
	cmd := exec.Command("systemd-analyze", "verify", unit)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":")
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify %s with the cloud-init's drop-in: %v\n%s", unit, err, out)
	}
}

// TestEtcdBackupModuleUnitsMatchBackupSystemd fails when the module's copy
// of the unit files drifts from backup/systemd (the ones etcdguard's own
// tests run under systemd).
func TestEtcdBackupModuleUnitsMatchBackupSystemd(t *testing.T) {
	root, err := infra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "modules", "etcd-backup", "units")
	shipped, err := fs.Glob(systemd.Units, "*")
	if err != nil || len(shipped) == 0 {
		t.Fatalf("backup/systemd embeds no units (%v)", err)
	}
	for _, name := range shipped {
		want, _ := fs.ReadFile(systemd.Units, name)
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("modules/etcd-backup/units/%s: %v (copy backup/systemd/%s there)", name, err, name)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("modules/etcd-backup/units/%s differs from backup/systemd/%s: cp backup/systemd/%s modules/etcd-backup/units/", name, name, name)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !slices.Contains(shipped, e.Name()) {
			t.Errorf("modules/etcd-backup/units/%s is not a unit backup/systemd ships", e.Name())
		}
	}
}

type cloudInit struct {
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Owner       string `yaml:"owner"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	RunCmd [][]string `yaml:"runcmd"`
}

func parseCloudInit(t *testing.T, doc string) *cloudInit {
	t.Helper()
	if !strings.HasPrefix(doc, "#cloud-config\n") {
		t.Fatalf("cloud_init does not start with #cloud-config:\n%s", doc)
	}
	var ci cloudInit
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&ci); err != nil {
		t.Fatalf("cloud_init is not the expected cloud-config: %v\n%s", err, doc)
	}
	return &ci
}

func (c *cloudInit) files() map[string]string {
	out := map[string]string{}
	for _, f := range c.WriteFiles {
		out[f.Path] = f.Content
		if f.Owner != "root:root" || f.Permissions != "0644" {
			out[f.Path] = fmt.Sprintf("owner %s, permissions %s: want root:root 0644", f.Owner, f.Permissions)
		}
	}
	return out
}

// requireRun fails unless each fragment appears in one runcmd entry (joined
// with spaces), in the given order.
func (c *cloudInit) requireRun(t *testing.T, fragments ...string) {
	t.Helper()
	i := 0
	for _, cmd := range c.RunCmd {
		if i < len(fragments) && strings.Contains(strings.Join(cmd, " "), fragments[i]) {
			i++
		}
	}
	if i < len(fragments) {
		t.Errorf("cloud-init runcmd lacks %q (in order %q): %v", fragments[i], fragments, c.RunCmd)
	}
}

func putKeys(t *testing.T, endpoints []string, n int) {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		if _, err := c.Put(ctx, "/registry/configmaps/team-a/cm-"+string(rune('a'+i)), "x"); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
}
