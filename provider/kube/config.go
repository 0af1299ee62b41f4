// Package kube builds the Kubernetes client from the provider's kubernetes
// block, with kubectl's precedence, and only when a resource first needs it:
// a configuration that only uses plan-time checks never touches a cluster.
package kube

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Config mirrors the provider's kubernetes block. Empty strings mean unset.
type Config struct {
	ConfigPath           string
	ConfigContext        string
	Host                 string
	Token                string
	ClusterCACertificate string
	ClientCertificate    string
	ClientKey            string
	Insecure             bool
	// UserAgent is sent with every request, so API server audit logs name
	// k8sguard and its version (terraform-provider-k8sguard/<version>).
	UserAgent string
	// Unknown names the attributes Terraform has not decided yet (they come
	// from another resource's output, during plan). Such a configuration
	// builds no client: with those attributes read as unset, the kubeconfig
	// (KUBECONFIG, ~/.kube/config) would fill in for them, and its cluster
	// and credentials would be used instead of the configured ones.
	Unknown []string
}

// ErrNotKnownYet is returned for a configuration with Unknown attributes.
var ErrNotKnownYet = errors.New("the provider's kubernetes configuration is not known yet")

// FieldError is a configuration error tied to one attribute of the
// kubernetes block, so the provider can put the diagnostic on it.
type FieldError struct {
	Attribute string
	Err       error
}

func (e *FieldError) Error() string { return fmt.Sprintf("kubernetes.%s: %v", e.Attribute, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks what the configuration alone decides: PEM material
// parses, host has a scheme. It reads no files, so `terraform validate`
// gives the same answer on every machine.
func (c Config) Validate() []*FieldError {
	var errs []*FieldError
	for _, f := range []struct{ attr, value, kind string }{
		{"cluster_ca_certificate", c.ClusterCACertificate, "CERTIFICATE"},
		{"client_certificate", c.ClientCertificate, "CERTIFICATE"},
		{"client_key", c.ClientKey, "PRIVATE KEY"},
	} {
		if f.value == "" {
			continue
		}
		if err := checkPEM(f.value, f.kind); err != nil {
			errs = append(errs, &FieldError{Attribute: f.attr, Err: err})
		}
	}
	if (c.ClientCertificate == "") != (c.ClientKey == "") {
		attr := "client_key"
		if c.ClientCertificate == "" {
			attr = "client_certificate"
		}
		errs = append(errs, &FieldError{Attribute: attr, Err: errors.New("client_certificate and client_key must be set together")})
	}
	if c.Host != "" && !strings.HasPrefix(c.Host, "https://") && !strings.HasPrefix(c.Host, "http://") {
		errs = append(errs, &FieldError{Attribute: "host", Err: fmt.Errorf("%q has no scheme: write it as https://%s", c.Host, c.Host)})
	}
	return errs
}

// ValidateKubeconfig checks that a kubeconfig named explicitly (config_path
// or $KUBECONFIG) is readable and holds config_context. The provider calls
// it when it is configured; a missing default ~/.kube/config is no error.
func (c Config) ValidateKubeconfig() *FieldError {
	if len(c.Unknown) > 0 {
		return nil
	}
	_, err := c.loadKubeconfig()
	return err
}

// checkPEM reports whether s holds at least one PEM block of the kind
// (a key may be "RSA PRIVATE KEY", "EC PRIVATE KEY" or "PRIVATE KEY").
func checkPEM(s, kind string) error {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return fmt.Errorf("not PEM: expected a -----BEGIN %s----- block (use file(\"...\") to read one)", kind)
	}
	if !strings.HasSuffix(block.Type, kind) {
		return fmt.Errorf("PEM block is %q, expected %q", block.Type, kind)
	}
	if kind == "CERTIFICATE" {
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate does not parse: %v", err)
		}
	}
	return nil
}

// kubeconfigPath returns the kubeconfig kubectl would use: the explicit
// path, else $KUBECONFIG, else ~/.kube/config. explicit tells whether the
// user named it (then a missing file is an error, not "no kubeconfig").
func (c Config) kubeconfigPath() (path string, explicit bool) {
	if c.ConfigPath != "" {
		return expandHome(c.ConfigPath), true
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		return env, true
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", false
	}
	return filepath.Join(home, ".kube", "config"), false
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// loadKubeconfig reads the kubeconfig, or returns nil when none is named and
// the default one does not exist (explicit attributes may still suffice).
func (c Config) loadKubeconfig() (*clientcmdapi.Config, *FieldError) {
	path, explicit := c.kubeconfigPath()
	attr := "config_path"
	if path == "" {
		return nil, nil
	}
	var (
		raw *clientcmdapi.Config
		err error
	)
	if c.ConfigPath == "" && os.Getenv("KUBECONFIG") != "" {
		// $KUBECONFIG may be a list, as for kubectl.
		rules := &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(path)}
		raw, err = rules.Load()
	} else {
		if _, statErr := os.Stat(path); statErr != nil && !explicit {
			return nil, nil
		}
		raw, err = clientcmd.LoadFromFile(path)
	}
	if err != nil {
		return nil, &FieldError{Attribute: attr, Err: fmt.Errorf("cannot read kubeconfig %s: %v", path, err)}
	}
	if c.ConfigContext != "" {
		if _, ok := raw.Contexts[c.ConfigContext]; !ok {
			return nil, &FieldError{Attribute: "config_context", Err: fmt.Errorf("context %q not found in %s (contexts: %s)", c.ConfigContext, path, contextNames(raw))}
		}
	}
	return raw, nil
}

func contextNames(cfg *clientcmdapi.Config) string {
	var names []string
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// RESTConfig merges the kubeconfig (if any) with the explicit attributes,
// which win, as kubectl's flags win over its kubeconfig.
func (c Config) RESTConfig() (*rest.Config, error) {
	if len(c.Unknown) > 0 {
		return nil, fmt.Errorf("%w (kubernetes.%s: another resource's output, known at apply). "+
			"k8sguard does not fall back to the kubeconfig meanwhile: it may point at another cluster, with other credentials", ErrNotKnownYet, strings.Join(c.Unknown, ", kubernetes."))
	}
	raw, ferr := c.loadKubeconfig()
	if ferr != nil {
		return nil, ferr
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.ConfigContext}
	if c.Host != "" {
		overrides.ClusterInfo.Server = c.Host
	}
	if c.ClusterCACertificate != "" {
		overrides.ClusterInfo.CertificateAuthorityData = []byte(c.ClusterCACertificate)
	}
	if c.Insecure {
		overrides.ClusterInfo.InsecureSkipTLSVerify = true
	}
	if c.Token != "" {
		overrides.AuthInfo.Token = c.Token
	}
	if c.ClientCertificate != "" {
		overrides.AuthInfo.ClientCertificateData = []byte(c.ClientCertificate)
		overrides.AuthInfo.ClientKeyData = []byte(c.ClientKey)
	}
	if raw == nil {
		if c.Host == "" {
			path, _ := c.kubeconfigPath()
			return nil, errors.New("no Kubernetes cluster configured: set kubernetes.host (with token or client certificate) or kubernetes.config_path, or provide a kubeconfig (KUBECONFIG or " + path + ")")
		}
		raw = clientcmdapi.NewConfig()
	}
	rc, err := clientcmd.NewNonInteractiveClientConfig(*raw, c.ConfigContext, overrides, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	rc.UserAgent = c.UserAgent
	if rc.UserAgent == "" {
		rc.UserAgent = "terraform-provider-k8sguard"
	}
	return rc, nil
}

// Lazy builds the clientset on first use and remembers the outcome.
type Lazy struct {
	cfg  Config
	once sync.Once
	rc   *rest.Config
	cs   kubernetes.Interface
	err  error
}

// NewLazy returns a Lazy for cfg; nothing is contacted until Clientset.
func NewLazy(cfg Config) *Lazy { return &Lazy{cfg: cfg} }

// Clientset returns the client, building it on the first call.
func (l *Lazy) Clientset() (kubernetes.Interface, error) {
	l.once.Do(func() {
		l.rc, l.err = l.cfg.RESTConfig()
		if l.err != nil {
			return
		}
		l.cs, l.err = kubernetes.NewForConfig(l.rc)
	})
	return l.cs, l.err
}

// RESTConfig returns the REST configuration the clientset was built from
// (for dynamic or typed clients beyond the core clientset).
func (l *Lazy) RESTConfig() (*rest.Config, error) {
	if _, err := l.Clientset(); err != nil {
		return nil, err
	}
	return l.rc, nil
}

// Known reports whether the configuration is decided (see Config.Unknown).
func (l *Lazy) Known() bool { return len(l.cfg.Unknown) == 0 }

// Host is the API server URL, or "" when no client could be built.
func (l *Lazy) Host() string {
	rc, err := l.RESTConfig()
	if err != nil {
		return ""
	}
	return rc.Host
}
