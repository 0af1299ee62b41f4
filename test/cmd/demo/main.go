// Command demo is `make demo`: it starts the ephemeral control plane, applies
// examples/quickstart with the freshly built provider, prints what happened
// and stops everything it started, also on Ctrl-C.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/k8sguard/k8sguard/test/infra"
)

func main() {
	d := newSession()
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		d.step("interrupted: stopping everything the demo started")
		d.cleanup()
		os.Exit(130)
	}()
	defer d.cleanup()
	run(d)
}

func run(d *session) {
	started := time.Now()
	d.step("starting etcd, kube-apiserver and kube-controller-manager on loopback")
	cp := infra.StartControlPlane(d, infra.ControlPlaneOptions{})
	d.detail("API server %s, kubeconfig %s", cp.Host, cp.Kubeconfig)

	d.step("terraform init + apply examples/quickstart with the freshly built provider")
	work := infra.CopyToTemp(d, "examples/quickstart")
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE="+infra.CLIConfig(d), "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "KUBECONFIG="+cp.Kubeconfig)
	d.terraform(work, env, "init", "-input=false", "-no-color")
	d.terraform(work, env, "apply", "-input=false", "-auto-approve", "-no-color")
	version := strings.TrimSpace(d.terraform(work, env, "output", "-raw", "server_version"))
	d.terraform(work, env, "destroy", "-input=false", "-auto-approve", "-no-color")

	d.step("done in %s", time.Since(started).Round(time.Second))
	fmt.Printf(`
Summary
  - started a real control plane (etcd, kube-apiserver %s, kube-controller-manager) on loopback
  - terraform read it through the k8sguard provider (data.k8sguard_kubernetes_cluster)
  - everything the demo started is stopped and its temp dirs removed

Next
  - make tools test     run every test against the same ephemeral infrastructure
  - docs/index.md       the provider's reference; docs/guides/rules.md the rules
`, version)
}

// session implements infra.TB for a program: Fatalf stops everything and
// exits, Cleanup runs in reverse order at the end.
type session struct {
	cleanups []func()
	tmp      []string
	failed   bool
}

func newSession() *session { return &session{} }

func (d *session) step(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}
func (d *session) detail(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }

func (d *session) terraform(dir string, env []string, args ...string) string {
	cmd := exec.Command("terraform", args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if args[0] != "output" && strings.TrimSpace(line) != "" {
			d.detail("%s", line)
		}
	}
	if err != nil {
		d.Fatalf("terraform %s: %v", args[0], err)
	}
	return string(out)
}

func (d *session) cleanup() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
	d.cleanups = nil
	for _, dir := range d.tmp {
		os.RemoveAll(dir)
	}
	d.tmp = nil
}

func (d *session) Helper()                 {}
func (d *session) Cleanup(f func())        { d.cleanups = append(d.cleanups, f) }
func (d *session) Logf(f string, a ...any) { d.detail(f, a...) }
func (d *session) Failed() bool            { return d.failed }
func (d *session) Name() string            { return "demo" }
func (d *session) Skipf(f string, a ...any) {
	d.step("skipped: "+f, a...)
}
func (d *session) Fatalf(f string, a ...any) {
	d.failed = true
	fmt.Fprintf(os.Stderr, "demo failed: "+f+"\n", a...)
	d.cleanup()
	os.Exit(1)
}
func (d *session) TempDir() string {
	dir, err := os.MkdirTemp("", "k8sguard-demo-")
	if err != nil {
		d.Fatalf("temp dir: %v", err)
	}
	d.tmp = append(d.tmp, dir)
	return filepath.Clean(dir)
}
