package infra

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/gruntwork-io/terratest/modules/terraform"
)

// ProviderSource is the address fixtures use in required_providers.
const ProviderSource = "k8sguard/k8sguard"

var (
	mirrorOnce sync.Once
	mirrorDir  string
	mirrorErr  error
)

// ProviderMirror returns a filesystem mirror holding the provider built
// from this checkout. `make test` installs it first ($K8SGUARD_MIRROR);
// a plain `go test` builds it once per test process into a temp dir, so a
// test never runs a stale provider.
func ProviderMirror(t TB) string {
	t.Helper()
	mirrorOnce.Do(func() {
		if m := os.Getenv("K8SGUARD_MIRROR"); m != "" {
			if _, err := os.Stat(filepath.Join(m, "registry.terraform.io", ProviderSource)); err == nil {
				mirrorDir = m
				return
			}
		}
		mirrorDir, mirrorErr = buildMirror()
	})
	if mirrorErr != nil {
		t.Fatalf("provider mirror: %v", mirrorErr)
	}
	return mirrorDir
}

func buildMirror() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "k8sguard-mirror-")
	if err != nil {
		return "", err
	}
	version, err := Version()
	if err != nil {
		return "", err
	}
	target := filepath.Join(dir, "registry.terraform.io", ProviderSource, version, runtime.GOOS+"_"+runtime.GOARCH,
		"terraform-provider-k8sguard_v"+version)
	cmd := exec.Command("go", "build", "-ldflags", LDFlags(version), "-o", target, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build provider: %v\n%s", err, out)
	}
	return dir, nil
}

// CLIConfig writes a terraform CLI configuration that installs k8sguard
// from the mirror and nothing from the (unreachable) registry.
func CLIConfig(t TB) string {
	t.Helper()
	mirror := ProviderMirror(t)
	path := filepath.Join(t.TempDir(), "terraformrc")
	writeFile(t, path, fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/k8sguard/*"]
  }
  direct {
    exclude = ["registry.terraform.io/k8sguard/*"]
  }
}
`, mirror))
	return path
}

// Terraform returns terratest options for a temp copy of dir (relative to
// the repository root, e.g. "examples/quickstart"). examples/ and modules/
// are copied alongside so relative module sources resolve. Callers add
// provider settings through EnvVars (KUBECONFIG, AWS_*).
func Terraform(t TB, dir string, vars map[string]any) *terraform.Options {
	t.Helper()
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Fatalf("terraform not found on PATH (%v): the terratest suites run the real CLI; install Terraform ≥ 1.11 "+
			"(no registry access is needed: the provider comes from a local filesystem mirror)", err)
	}
	work := CopyToTemp(t, dir)
	return &terraform.Options{
		TerraformDir: work,
		Vars:         vars,
		NoColor:      true,
		EnvVars: map[string]string{
			"TF_CLI_CONFIG_FILE":  CLIConfig(t),
			"TF_IN_AUTOMATION":    "1",
			"CHECKPOINT_DISABLE":  "1",
			"TF_PLUGIN_CACHE_DIR": "",
		},
	}
}

// WithEnv adds KEY=VALUE pairs to the options' environment.
func WithEnv(opts *terraform.Options, env []string) *terraform.Options {
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		opts.EnvVars[k] = v
	}
	return opts
}

var requiredProviders = regexp.MustCompile(`required_providers\s*{`)

// CopyToTemp copies the repository's examples/ and modules/ (and the tree
// holding dir) into a temp dir, without state, lock files or .terraform, and
// returns the copy of dir. A fixture that declares no required_providers
// gets one pointing k8sguard at the mirror's address (the tfplugindocs
// examples show only the resource).
func CopyToTemp(t TB, dir string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("copy %s: %v", dir, err)
	}
	if filepath.IsAbs(dir) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("copy %s: not inside the repository", dir)
		}
		dir = rel
	}
	tmp := t.TempDir()
	top := strings.Split(filepath.ToSlash(dir), "/")[0]
	for _, d := range uniq("examples", "modules", top) {
		if err := copyTree(filepath.Join(root, d), filepath.Join(tmp, d)); err != nil {
			t.Fatalf("copy %s: %v", d, err)
		}
	}
	work := filepath.Join(tmp, dir)
	if !declaresProviders(work) {
		writeFile(t, filepath.Join(work, "zz_k8sguard_test_providers.tf"), fmt.Sprintf(`terraform {
  required_providers {
    k8sguard = { source = %q }
  }
}
`, ProviderSource))
	}
	return work
}

func declaresProviders(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && requiredProviders.Match(b) {
			return true
		}
	}
	return false
}

func uniq(items ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, i := range items {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

func copyTree(src, dst string) error {
	if _, err := os.Stat(src); os.IsNotExist(err) {
		return nil
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && name == ".terraform" {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.Contains(name, ".tfstate") || name == ".terraform.lock.hcl") {
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
}
