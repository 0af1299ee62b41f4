package release_test

import (
	"archive/zip"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/k8sguard/k8sguard/test/infra"
)

var platforms = []string{"darwin_amd64", "darwin_arm64", "linux_amd64", "linux_arm64"}

// cloneHead checks out this checkout's HEAD into a temp dir: a clean tree,
// as `make release` wants.
func cloneHead(t *testing.T) string {
	t.Helper()
	root, err := infra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "k8sguard")
	for _, args := range [][]string{
		{"clone", "-q", "--no-checkout", root, dir},
		{"-C", dir, "checkout", "-q", "--detach", strings.TrimSpace(string(head))},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

func makeRelease(dir string, env ...string) (string, error) {
	cmd := exec.Command("make", "-s", "release")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// newSigningKey creates a throwaway GPG key in its own GNUPGHOME and
// returns its fingerprint.
func newSigningKey(t *testing.T) (home, fingerprint string) {
	home, err := os.MkdirTemp("", "k8sguard-gnupg-") // short: gpg-agent's socket path has a length limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	gpg := func(args ...string) string {
		cmd := exec.Command("gpg", append([]string{"--homedir", home, "--batch"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	gpg("--passphrase", "", "--quick-gen-key", "k8sguard release test <release-test@k8sguard.invalid>", "ed25519", "sign", "1d")
	for _, line := range strings.Split(gpg("--list-secret-keys", "--with-colons"), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && len(f) > 9 {
			return home, f[9]
		}
	}
	t.Fatal("no fingerprint in gpg --list-secret-keys")
	return "", ""
}

// readSums parses "<sha256>  <name>" lines.
func readSums(t *testing.T, path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		sums[name] = sum
	}
	return sums
}

func sha256File(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var lockHash = regexp.MustCompile(`"(h1|zh):([^"]+)"`)

// `make release` refuses a dirty tree, then on a clean one writes the
// registry layout and the packages; the real terraform installs the
// provider from a packed filesystem mirror made of the zips, and the lock
// file's hashes are those of the zips SHA256SUMS lists.
func TestMakeReleaseArtefactsInstallFromAPackedMirror(t *testing.T) {
	version, err := infra.Version()
	if err != nil {
		t.Fatal(err)
	}
	dir := cloneHead(t)

	if err := os.WriteFile(filepath.Join(dir, "stray.txt"), []byte("uncommitted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := makeRelease(dir)
	if err == nil || !strings.Contains(out, "refusing to release from a dirty tree") || !strings.Contains(out, "stray.txt") {
		t.Fatalf("make release on a dirty tree: err %v, output:\n%s", err, out)
	}
	os.Remove(filepath.Join(dir, "stray.txt"))

	gnupg, fingerprint := newSigningKey(t)
	out, err = makeRelease(dir, "GNUPGHOME="+gnupg, "GPG_FINGERPRINT="+fingerprint)
	if err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	t.Logf("make release:\n%s", out)
	dist := filepath.Join(dir, "dist")
	prefix := "terraform-provider-k8sguard_" + version
	want := []string{prefix + "_SHA256SUMS", prefix + "_SHA256SUMS.sig", prefix + "_manifest.json",
		"etcdguard_" + version + "_amd64.deb", "etcdguard_" + version + "_arm64.deb",
		"etcdguard-" + version + "-1.x86_64.rpm", "etcdguard-" + version + "-1.aarch64.rpm"}
	for _, p := range platforms {
		want = append(want, prefix+"_"+p+".zip")
	}
	sort.Strings(want)
	entries, _ := os.ReadDir(dist)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("dist/ holds\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// SHA256SUMS covers every zip and the manifest, with their real hashes,
	// and the detached signature verifies with the key.
	sumsPath := filepath.Join(dist, prefix+"_SHA256SUMS")
	sums := readSums(t, sumsPath)
	if len(sums) != len(platforms)+1 {
		t.Errorf("SHA256SUMS lists %d files, want the %d zips and the manifest", len(sums), len(platforms))
	}
	for name, sum := range sums {
		if got := sha256File(t, filepath.Join(dist, name)); got != sum {
			t.Errorf("SHA256SUMS says %s for %s; the file hashes to %s", sum, name, got)
		}
	}
	if out, err := exec.Command("gpg", "--homedir", gnupg, "--batch", "--verify", sumsPath+".sig", sumsPath).CombinedOutput(); err != nil {
		t.Errorf("gpg --verify of the SHA256SUMS signature: %v\n%s", err, out)
	}

	var manifest struct {
		Version  int `json:"version"`
		Metadata struct {
			ProtocolVersions []string `json:"protocol_versions"`
		} `json:"metadata"`
	}
	b, _ := os.ReadFile(filepath.Join(dist, prefix+"_manifest.json"))
	if err := json.Unmarshal(b, &manifest); err != nil || manifest.Version != 1 || strings.Join(manifest.Metadata.ProtocolVersions, ",") != "6.0" {
		t.Errorf("manifest %s: %v", b, err)
	}

	// Each zip holds the one executable the registry layout names. The
	// packed mirror is built from them.
	mirror := t.TempDir()
	pkgDir := filepath.Join(mirror, "registry.terraform.io", infra.ProviderSource)
	if err := os.MkdirAll(pkgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	wantH1 := map[string]bool{}
	for _, p := range platforms {
		name := prefix + "_" + p + ".zip"
		zr, err := zip.OpenReader(filepath.Join(dist, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(zr.File) != 1 || zr.File[0].Name != "terraform-provider-k8sguard_v"+version || zr.File[0].Mode()&0o111 == 0 {
			t.Errorf("%s: want only an executable terraform-provider-k8sguard_v%s, got %d files", name, version, len(zr.File))
		}
		zr.Close()
		// Terraform's h1: is Go's dirhash of the archive's contents.
		h1, err := dirhash.HashZip(filepath.Join(dist, name), dirhash.Hash1)
		if err != nil {
			t.Fatal(err)
		}
		wantH1[h1] = true
		data, _ := os.ReadFile(filepath.Join(dist, name))
		if err := os.WriteFile(filepath.Join(pkgDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(`terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard", version = "`+version+`" }
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tf := func(args ...string) string {
		cmd := exec.Command("terraform", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig(t, "filesystem_mirror", mirror), "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("terraform %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := tf("init", "-no-color"); !strings.Contains(out, "Installed k8sguard/k8sguard v"+version) {
		t.Fatalf("terraform init did not install k8sguard %s from the packed mirror:\n%s", version, out)
	}
	// Lock every platform the release ships, from the same mirror.
	lockArgs := []string{"providers", "lock", "-no-color", "-fs-mirror=" + mirror}
	for _, p := range platforms {
		lockArgs = append(lockArgs, "-platform="+p)
	}
	tf(lockArgs...)
	lock, err := os.ReadFile(filepath.Join(work, ".terraform.lock.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	// A filesystem mirror gives Terraform no signed SHA256SUMS, so the lock
	// holds h1: hashes (the registry adds zh:, the zips' sha256). Each must
	// be the h1 of a zip SHA256SUMS lists; any zh: must be a listed sha256.
	listed := map[string]bool{}
	for _, sum := range sums {
		listed[sum] = true
	}
	gotH1 := map[string]bool{}
	for _, m := range lockHash.FindAllStringSubmatch(string(lock), -1) {
		switch {
		case m[1] == "h1" && !wantH1["h1:"+m[2]]:
			t.Errorf("lock file hash h1:%s is not the h1 of any released zip", m[2])
		case m[1] == "zh" && !listed[m[2]]:
			t.Errorf("lock file hash zh:%s is not in SHA256SUMS", m[2])
		}
		if m[1] == "h1" {
			gotH1["h1:"+m[2]] = true
		}
	}
	for h := range wantH1 {
		if !gotH1[h] {
			t.Errorf("the lock file lacks %s, the hash of one of the released zips:\n%s", h, lock)
		}
	}
	t.Logf("terraform installed k8sguard %s from the packed mirror; lock file:\n%s", version, lock)
}
