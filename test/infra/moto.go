package infra

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Moto is a moto_server serving EC2, EKS, Auto Scaling, S3 and STS on one port.
type Moto struct {
	Endpoint string // http://127.0.0.1:<port>
	Region   string
	Process  *Process
}

// StartMoto starts moto_server, or skips the test with a clear message when
// it is not installed (it ships with the machine image's pyenv Python and
// cannot be installed from the registries CI reaches).
func StartMoto(t TB) *Moto {
	t.Helper()
	bin, err := findMoto()
	if err != nil {
		t.Skipf("SKIPPED: moto_server not found (%v): the AWS tests need it; install with 'pip install \"moto[server]\"'", err)
	}
	dir := t.TempDir()
	port := FreePort(t)
	m := &Moto{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Region: "us-east-1"}
	m.Process = start(t, "moto_server", dir, bin, []string{"-H", "127.0.0.1", "-p", fmt.Sprint(port)}, nil)
	waitFor(t, m.Process, "moto_server", 60*time.Second, func() error { return httpOK(m.Endpoint + "/moto-api/") })
	return m
}

// Env returns the AWS_* variables a child process needs to reach moto.
func (m *Moto) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=" + m.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// findMoto runs test/tools/find-moto.sh, the one place that knows where
// moto lives (PATH, $MOTO_SERVER, pyenv versions and shims).
func findMoto() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(filepath.Join(root, "test", "tools", "find-moto.sh")).Output()
	if err != nil {
		return "", fmt.Errorf("looked on PATH, $MOTO_SERVER and under %s", pyenvRoot())
	}
	return strings.TrimSpace(string(out)), nil
}

func pyenvRoot() string {
	if r := os.Getenv("PYENV_ROOT"); r != "" {
		return r
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".pyenv")
}
