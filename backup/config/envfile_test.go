package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k8sguard/k8sguard/backup/config"
)

func TestLoadEnvFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "env")
	os.WriteFile(path, []byte(`# the agent's static keys
AWS_ACCESS_KEY_ID=AKIAEXAMPLE
 AWS_SECRET_ACCESS_KEY = "sec ret"
; a comment
HTTPS_PROXY='http://proxy:3128'

ETCDGUARD_CLUSTER_NAME=from-file
`), 0o600)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	os.Unsetenv("AWS_ACCESS_KEY_ID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	t.Setenv("HTTPS_PROXY", "")
	os.Unsetenv("HTTPS_PROXY")
	t.Setenv("ETCDGUARD_CLUSTER_NAME", "from-environment")

	n, err := config.LoadEnvFile(path)
	if err != nil || n != 3 {
		t.Fatalf("loaded %d, %v; want 3", n, err)
	}
	for k, want := range map[string]string{
		"AWS_ACCESS_KEY_ID":      "AKIAEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":  "sec ret",
		"HTTPS_PROXY":            "http://proxy:3128",
		"ETCDGUARD_CLUSTER_NAME": "from-environment", // the environment wins
	} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	if n, err := config.LoadEnvFile(filepath.Join(dir, "missing")); n != 0 || err != nil {
		t.Errorf("a missing file: %d, %v; want nothing and no error", n, err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("AWS_REGION=eu-west-1\nsecret-without-a-key\n"), 0o600)
	_, err = config.LoadEnvFile(bad)
	if err == nil || !strings.Contains(err.Error(), "line 2: not KEY=VALUE") || strings.Contains(err.Error(), "secret-without-a-key") {
		t.Errorf("a malformed line: %v", err)
	}
}
