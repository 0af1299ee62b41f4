package release_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/infra"
)

// makeBuild runs `make build` into a temp bin directory: the binaries as the
// GNUmakefile stamps them from VERSION.
func makeBuild(t *testing.T) string {
	t.Helper()
	root, err := infra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	cmd := exec.Command("make", "-s", "build", "BIN="+bin)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	return bin
}

// uaRecorder is a reverse proxy in front of moto that remembers every
// request's User-Agent.
type uaRecorder struct {
	mu     sync.Mutex
	agents []string
}

func (r *uaRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.agents...)
}

func startUARecorder(t *testing.T, target string) (*uaRecorder, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &uaRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.agents = append(rec.agents, r.Header.Get("User-Agent"))
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

// auditUserAgents returns the user agents of the API server's audit events.
func auditUserAgents(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	defer f.Close()
	var agents []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			UserAgent string `json:"userAgent"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit event %q: %v", sc.Text(), err)
		}
		agents = append(agents, ev.UserAgent)
	}
	return agents
}

func containsPrefix(list []string, prefix string) (string, bool) {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return s, true
		}
	}
	return "", false
}

// `make build` stamps VERSION into both binaries: etcdguard version prints
// it, and the provider sends it in its user agent to the Kubernetes API
// server (read back from the real API server's audit log) and to AWS (read
// by a recording proxy in front of moto).
func TestVersionFileFeedsBothBinariesAndTheUserAgent(t *testing.T) {
	version, err := infra.Version()
	if err != nil {
		t.Fatal(err)
	}
	bin := makeBuild(t)

	out, err := exec.Command(filepath.Join(bin, "etcdguard"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "etcdguard "+version+" (go") {
		t.Fatalf("etcdguard version: %v %q, want etcdguard %s", err, out, version)
	}

	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true, AuditLog: true})
	moto := infra.StartMoto(t)
	rec, awsEndpoint := startUARecorder(t, moto.Endpoint)

	mirror := t.TempDir()
	dir := filepath.Join(mirror, "registry.terraform.io", infra.ProviderSource, version, runtime.GOOS+"_"+runtime.GOARCH)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(bin, "terraform-provider-k8sguard"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "terraform-provider-k8sguard_v"+version), b, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := infra.Terraform(t, "test/release/testdata/useragent", map[string]any{
		"region":    moto.Region,
		"endpoints": map[string]string{"ec2": awsEndpoint},
	})
	opts.EnvVars["TF_CLI_CONFIG_FILE"] = cliConfig(t, "filesystem_mirror", mirror)
	infra.WithEnv(opts, append(moto.Env(), "KUBECONFIG="+cp.Kubeconfig))
	terraform.InitContext(t, t.Context(), opts)
	terraform.PlanContext(t, t.Context(), opts)

	want := "terraform-provider-k8sguard/" + version
	agents := auditUserAgents(t, cp.AuditLog)
	if ua, ok := containsPrefix(agents, want); !ok || ua != want {
		t.Errorf("no API server request with user agent %q; audit log has %q", want, uniqueStrings(agents))
	}
	wantAWS := "k8sguard/" + version
	found := false
	for _, ua := range rec.seen() {
		found = found || strings.Contains(" "+ua+" ", " "+wantAWS+" ")
	}
	if !found {
		t.Errorf("no AWS request with %q in its user agent; saw %q", wantAWS, uniqueStrings(rec.seen()))
	}
	t.Logf("Kubernetes user agent %q; AWS user agent %q", want, rec.seen()[0])
}

func uniqueStrings(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// cliConfig writes a terraform CLI configuration that installs k8sguard
// only from the mirror at dir (kind: filesystem_mirror) and nothing from
// the unreachable registry.
func cliConfig(t *testing.T, kind, dir string) string {
	path := filepath.Join(t.TempDir(), "terraformrc")
	content := `provider_installation {
  ` + kind + ` {
    path    = "` + dir + `"
    include = ["registry.terraform.io/k8sguard/*"]
  }
  direct {
    exclude = ["registry.terraform.io/k8sguard/*"]
  }
}
`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
