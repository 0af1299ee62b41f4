package kubernetes_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/infra"
)

// The provider's credentials (kubernetes.token, kubernetes.client_key) stay
// out of terraform's output, the state and a TF_LOG=trace log of init,
// apply, plan and destroy, the provider's own log lines included.
func TestCredentialsStayOutOfOutputStateAndTraceLogs(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	ctx := context.Background()
	const ns = "secrets"
	createNamespace(t, cp.Clientset, ns, nil)
	ca, err := os.ReadFile(cp.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, keyBody := clientCertificate(t)

	opts := infra.Terraform(t, "test/kubernetes/testdata/secrets", map[string]any{
		"host": cp.Host, "ca": string(ca), "client_certificate": cert, "name": ns,
	})
	// The credentials as TF_VAR_*: terraform's own log lists its -var
	// arguments ("CLI args"), which is no part of the provider.
	opts.EnvVars["TF_VAR_token"] = cp.Token
	opts.EnvVars["TF_VAR_client_key"] = key
	opts.EnvVars["KUBECONFIG"] = "/nonexistent" // only the provider block
	infra.RequireSecretsAbsentFromTraceRun(t, opts, []infra.Secret{{What: "kubernetes.token", Value: cp.Token}, {What: "kubernetes.client_key", Value: keyBody}}, func() {
		if v := terraform.OutputContext(t, ctx, opts, "server_version"); !strings.HasPrefix(v, "v1.") {
			t.Fatalf("server_version = %q: the provider did not reach the cluster", v)
		}
	})
}

// clientCertificate is a self-signed client certificate and its key, and
// the first line of the key's base64 body (what a leak would show, whether
// the newlines are escaped or not).
func clientCertificate(t *testing.T) (certPEM, keyPEM, keyBody string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "k8sguard-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	lines := strings.Split(strings.TrimSpace(keyPEM), "\n")
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), keyPEM, lines[1]
}
