package kube

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeKubeconfig(t *testing.T, dir, name, server string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	err := os.WriteFile(p, []byte(`apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "`+server+`"}}
- {name: b, cluster: {server: "https://b.example:6443"}}
users: [{name: u, user: {token: from-file}}]
contexts:
- {name: ctx-a, context: {cluster: a, user: u}}
- {name: ctx-b, context: {cluster: b, user: u}}
current-context: ctx-a
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The precedence is kubectl's: explicit attributes over the kubeconfig,
// an explicit path over $KUBECONFIG over ~/.kube/config.
func TestRESTConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	home := filepath.Join(dir, ".kube")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	writeKubeconfig(t, home, "config", "https://home.example:6443")
	envPath := writeKubeconfig(t, dir, "env", "https://env.example:6443")
	explicit := writeKubeconfig(t, dir, "explicit", "https://explicit.example:6443")

	cases := []struct {
		name      string
		env       string
		cfg       Config
		wantHost  string
		wantToken string
	}{
		{"home default", "", Config{}, "https://home.example:6443", "from-file"},
		{"KUBECONFIG over home", envPath, Config{}, "https://env.example:6443", "from-file"},
		{"explicit path over KUBECONFIG", envPath, Config{ConfigPath: explicit}, "https://explicit.example:6443", "from-file"},
		{"~ is expanded", "", Config{ConfigPath: "~/.kube/config"}, "https://home.example:6443", "from-file"},
		{"context selects the cluster", "", Config{ConfigContext: "ctx-b"}, "https://b.example:6443", "from-file"},
		{"host and token override the file", "", Config{Host: "https://flag.example", Token: "tok"}, "https://flag.example", "tok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			rc, err := tc.cfg.RESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			if rc.Host != tc.wantHost || rc.BearerToken != tc.wantToken {
				t.Fatalf("host %q token %q, want %q %q", rc.Host, rc.BearerToken, tc.wantHost, tc.wantToken)
			}
		})
	}
}

func TestExplicitAttributesWorkWithoutAnyKubeconfig(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	rc, err := Config{Host: "https://10.0.0.1:6443", Token: "t"}.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != "https://10.0.0.1:6443" {
		t.Fatalf("host %q", rc.Host)
	}
	if _, err := (Config{}).RESTConfig(); err == nil || !strings.Contains(err.Error(), "no Kubernetes cluster configured") {
		t.Fatalf("err = %v", err)
	}
}

func TestLazyBuildsNothingUntilAsked(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	l := NewLazy(Config{ConfigPath: "/does/not/exist"})
	// Constructing is free; the error appears only on first use, and stays.
	for i := 0; i < 2; i++ {
		if _, err := l.Clientset(); err == nil || !strings.Contains(err.Error(), "config_path") {
			t.Fatalf("call %d: err = %v", i, err)
		}
	}
	if l.Host() != "" {
		t.Fatalf("Host() = %q for a client that could not be built", l.Host())
	}
}

func TestValidateChecksPEMKinds(t *testing.T) {
	errs := Config{ClientCertificate: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", ClientKey: "junk"}.Validate()
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{
		`kubernetes.client_certificate: PEM block is "PRIVATE KEY", expected "CERTIFICATE"`,
		`kubernetes.client_key: not PEM: expected a -----BEGIN PRIVATE KEY----- block`,
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in:\n%s", want, joined)
		}
	}
}

// A configuration with attributes not known yet builds no client, whatever
// the kubeconfig holds: it would stand in for the unknown attributes.
func TestRESTConfigRefusesUnknownAttributes(t *testing.T) {
	t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")
	c := Config{Host: "", Unknown: []string{"host", "token"}}
	if fe := c.ValidateKubeconfig(); fe != nil {
		t.Fatalf("ValidateKubeconfig read the kubeconfig: %v", fe)
	}
	_, err := c.RESTConfig()
	if !errors.Is(err, ErrNotKnownYet) {
		t.Fatalf("RESTConfig() error = %v, want ErrNotKnownYet", err)
	}
	want := "the provider's kubernetes configuration is not known yet (kubernetes.host, kubernetes.token: another resource's output, known at apply). " +
		"k8sguard does not fall back to the kubeconfig meanwhile: it may point at another cluster, with other credentials"
	if err.Error() != want {
		t.Fatalf("RESTConfig() error =\n%q, want\n%q", err, want)
	}
}
