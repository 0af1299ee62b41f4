// Package upgrade_test proves that a state written by the last release
// (0.1.0) plans cleanly with this checkout's provider: configurations
// written for 0.1.0 are applied with the 0.1.0 provider, built from git at
// the release commit, then planned with the current one (the modules too:
// the release's modules/, then this checkout's). The plan must succeed and
// replace or destroy nothing; it may update only what each test names, a
// documented consequence of a fix (CHANGELOG), and nothing else.
package upgrade_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/infra"
)

// Release010 is the commit 0.1.0 was cut at (CHANGELOG.md, "## [0.1.0]").
const Release010 = "466e8690c04a6aa695d7e5bb486b652cd01f85e3"

func TestMain(m *testing.M) { infra.Main(m) }

var (
	releaseOnce sync.Once
	releaseDir  string // modules/ and mirror/ of the release
	releaseErr  error
)

// release010 extracts the 0.1.0 tree from git (git archive of the release
// commit, so no worktree is registered), builds its provider into a
// filesystem mirror and keeps its modules/, once per test process: it
// returns the directory holding both (modules/, mirror/). The build shares
// the module and build caches with the current provider's: about 20 s
// warm. A clone without the release commit (a shallow checkout) fetches
// it from origin; where that fails too the test is skipped, and counted in
// the run's summary: the release's source is history, not a program the
// machine can install.
func release010(t *testing.T) (modules, mirror string) {
	t.Helper()
	releaseOnce.Do(func() { releaseDir, releaseErr = buildRelease(Release010, "0.1.0") })
	var missing *missingCommitError
	if errors.As(releaseErr, &missing) {
		infra.Skip(t, ReasonNoReleaseHistory, missing.Error())
	}
	if releaseErr != nil {
		t.Fatalf("build the 0.1.0 provider: %v", releaseErr)
	}
	return filepath.Join(releaseDir, "modules"), filepath.Join(releaseDir, "mirror")
}

// ReasonNoReleaseHistory is the skip reason, as the summary prints it.
const ReasonNoReleaseHistory = "0.1.0 release commit not in this clone (shallow, and origin unreachable: git fetch --unshallow)"

type missingCommitError struct {
	commit string
	fetch  string // what fetching it said
}

func (e *missingCommitError) Error() string {
	return fmt.Sprintf("commit %s is not in this clone and fetching it from origin failed: %s", e.commit, e.fetch)
}

// haveCommit makes sure commit is in root's object store: a shallow clone
// fetches it (and only it) from origin.
func haveCommit(root, commit string) error {
	if exec.Command("git", "-C", root, "cat-file", "-e", commit+"^{commit}").Run() == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", root, "fetch", "--no-tags", "--depth=1", "origin", commit).CombinedOutput()
	if err == nil && exec.Command("git", "-C", root, "cat-file", "-e", commit+"^{commit}").Run() == nil {
		return nil
	}
	return &missingCommitError{commit: commit, fetch: strings.TrimSpace(fmt.Sprintf("%v %s", err, out))}
}

func buildRelease(commit, version string) (string, error) {
	root, err := infra.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "k8sguard-release-"+version+"-")
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "src")
	defer os.RemoveAll(src)
	if err := haveCommit(root, commit); err != nil {
		return "", err
	}
	archive := exec.Command("sh", "-c", `mkdir -p "$3" && git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", root, commit, src)
	if out, err := archive.CombinedOutput(); err != nil {
		return "", fmt.Errorf("git archive %s (a shallow clone lacks it: git fetch --unshallow): %v\n%s", commit, err, out)
	}
	target := filepath.Join(dir, "mirror", "registry.terraform.io", infra.ProviderSource, version, runtime.GOOS+"_"+runtime.GOARCH,
		"terraform-provider-k8sguard_v"+version)
	build := exec.Command("go", "build", "-trimpath", "-ldflags", infra.LDFlags(version), "-o", target, ".")
	build.Dir = src
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build at %s: %v\n%s", commit, err, out)
	}
	if err := os.Rename(filepath.Join(src, "modules"), filepath.Join(dir, "modules")); err != nil {
		return "", err
	}
	return dir, nil
}

// useMirror points opts at the provider in mirror: a CLI configuration
// that installs k8sguard from it, and a fresh init (the lock file and the
// installed copy of the other build are removed: both builds call
// themselves 0.1.0, so init would otherwise keep the first).
func useMirror(t *testing.T, opts *terraform.Options, mirror string) {
	t.Helper()
	rc := filepath.Join(t.TempDir(), "terraformrc")
	cfg := fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/k8sguard/*"]
  }
  direct {
    exclude = ["registry.terraform.io/k8sguard/*"]
  }
}
`, mirror)
	if err := os.WriteFile(rc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	opts.EnvVars["TF_CLI_CONFIG_FILE"] = rc
	for _, p := range []string{".terraform", ".terraform.lock.hcl"} {
		if err := os.RemoveAll(filepath.Join(opts.TerraformDir, p)); err != nil {
			t.Fatal(err)
		}
	}
	terraform.InitContext(t, context.Background(), opts)
}

// applyOldPlanNew applies the configuration with 0.1.0, switches to the
// current provider and plans: the plan must succeed, replace and destroy
// nothing, and update only what allowed names (address → the top-level
// attributes that may change, each a documented consequence of a fix;
// "(create)" lets the address be created).
// It returns the plan's text.
func applyOldPlanNew(t *testing.T, opts *terraform.Options, allowed map[string][]string) string {
	t.Helper()
	applyWith010(t, opts)
	return planWithCurrent(t, opts, allowed)
}

// applyWith010 applies the configuration with the 0.1.0 provider.
func applyWith010(t *testing.T, opts *terraform.Options) {
	t.Helper()
	_, old := release010(t)
	useMirror(t, opts, old)
	if out, err := infra.ApplyE(t, context.Background(), opts); err != nil {
		t.Fatalf("apply with 0.1.0: %v\n%s", err, out)
	}
}

// planWithCurrent switches to the current provider and plans, checking
// the plan as applyOldPlanNew says.
func planWithCurrent(t *testing.T, opts *terraform.Options, allowed map[string][]string) string {
	t.Helper()
	ctx := context.Background()
	useMirror(t, opts, infra.ProviderMirror(t))
	planFile := filepath.Join(opts.TerraformDir, "upgrade.tfplan")
	args := terraform.FormatArgs(opts, "plan", "-input=false", "-lock=false", "-out="+planFile)
	stdout, stderr, _, err := terraform.RunTerraformCommandAndGetStdOutErrCodeContextE(t, ctx, opts, args...)
	out := stderr + "\n" + stdout
	if err != nil {
		t.Fatalf("plan with the current provider over 0.1.0's state failed: %v\n%s", err, out)
	}
	quiet := *opts // the plan's JSON is long and printed above as text
	quiet.Logger = logger.Discard
	js, err := terraform.RunTerraformCommandAndGetStdoutContextE(t, ctx, &quiet, "show", "-json", planFile)
	if err != nil {
		t.Fatalf("terraform show -json: %v", err)
	}
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string       `json:"actions"`
				Before  map[string]any `json:"before"`
				After   map[string]any `json:"after"`
				Unknown map[string]any `json:"after_unknown"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(js), &plan); err != nil {
		t.Fatalf("plan JSON: %v", err)
	}
	var problems []string
	for _, rc := range plan.ResourceChanges {
		actions := strings.Join(rc.Change.Actions, ",")
		switch actions {
		case "no-op", "read":
			continue
		case "update":
		case "create":
			if slices.Contains(allowed[rc.Address], "(create)") {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: %s", rc.Address, actions))
			continue
		default:
			problems = append(problems, fmt.Sprintf("%s: %s", rc.Address, actions))
			continue
		}
		ok := map[string]bool{}
		for _, a := range allowed[rc.Address] {
			ok[a] = true
		}
		for k, before := range rc.Change.Before {
			after, unknown := rc.Change.After[k], rc.Change.Unknown[k] == true
			if (unknown || !reflect.DeepEqual(before, after)) && !ok[k] {
				problems = append(problems, fmt.Sprintf("%s: %s changes (%v → %v, unknown %v)", rc.Address, k, before, after, unknown))
			}
		}
	}
	if len(problems) > 0 {
		t.Fatalf("plan with the current provider over 0.1.0's state:\n  %s\n%s", strings.Join(problems, "\n  "), out)
	}
	return out
}
