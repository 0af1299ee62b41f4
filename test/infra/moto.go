package infra

import (
	"errors"
	"fmt"
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

// StartMoto starts moto_server. A missing moto_server fails the test with
// where it was looked for and how to install it: only the explicit opt-out
// K8SGUARD_SKIP_AWS=1 skips (and the skip is counted, see Skip).
func StartMoto(t TB) *Moto {
	t.Helper()
	bin := motoBin(t)
	dir := t.TempDir()
	return startOnFreePorts(t, "moto_server", func() (*Moto, error) {
		port := FreePort(t)
		m := &Moto{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Region: "us-east-1"}
		m.Process = start(t, "moto_server", dir, bin, []string{"-H", "127.0.0.1", "-p", fmt.Sprint(port)}, nil)
		return m, waitReady(m.Process, "moto_server", 60*time.Second, func() error { return httpOK(m.Endpoint + "/moto-api/") })
	})
}

// motoBin finds moto_server, or fails the test saying where it looked and
// how to install it; only K8SGUARD_SKIP_AWS=1 makes it a (counted) skip.
func motoBin(t TB) string {
	t.Helper()
	if SkipAWS() {
		Skip(t, ReasonSkipAWS, "this test runs AWS APIs on moto_server")
	}
	bin, err := findMoto()
	if err != nil {
		t.Fatalf("moto_server not found: %v. The AWS tests run against it: install it with `pip install \"moto[server]\"` "+
			"(into the Python on PATH, or pyenv's), or point MOTO_SERVER at the executable; to skip the AWS tests instead, set "+
			"%s=1 (the run then reports what it skipped)", err, SkipAWSEnv)
	}
	return bin
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
	script := filepath.Join(root, "test", "tools", "find-moto.sh")
	out, err := exec.Command(script).Output()
	if err != nil {
		// The script says where it looked on stderr.
		var exit *exec.ExitError
		if errors.As(err, &exit) && len(exit.Stderr) > 0 {
			return "", errors.New(strings.TrimSpace(string(exit.Stderr)))
		}
		return "", fmt.Errorf("%s: %w", script, err)
	}
	return strings.TrimSpace(string(out)), nil
}
