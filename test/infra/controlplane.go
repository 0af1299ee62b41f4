package infra

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ControlPlaneOptions tune StartControlPlane.
type ControlPlaneOptions struct {
	// ClusterCIDR and NodeCIDRMaskSize turn on node IPAM in the
	// controller-manager (both must be set).
	ClusterCIDR      string
	NodeCIDRMaskSize int
	// WithoutControllerManager starts only etcd and kube-apiserver; quota
	// status is then never computed (harness self-tests prove the
	// difference).
	WithoutControllerManager bool
	// Etcd reuses a running etcd instead of starting one.
	Etcd *Etcd
	// AuditLog turns on the API server's audit log (every request at the
	// Metadata level, user agent included) in ControlPlane.AuditLog.
	AuditLog bool
}

// ControlPlane is etcd + kube-apiserver (+ kube-controller-manager).
type ControlPlane struct {
	Host       string // https://127.0.0.1:<port>
	Token      string // a system:masters bearer token
	CAFile     string // the API server's serving certificate, as CA
	Kubeconfig string
	Clientset  *kubernetes.Clientset
	REST       *rest.Config
	Etcd       *Etcd
	AuditLog   string // JSON lines, one audit event each (ControlPlaneOptions.AuditLog)

	APIServer         *Process
	ControllerManager *Process

	dir      string   // the API server's files (certs, keys, tokens, logs)
	apiArgs  []string // its flags but --etcd-servers
	restarts int
}

// DefaultControllers are the controllers the harness runs. The
// validatingadmissionpolicy-status-controller type-checks admission
// policies and reports it in their status, as on a real cluster.
const DefaultControllers = "namespace,resourcequota,garbagecollector,serviceaccount,cronjob,job,validatingadmissionpolicy-status-controller"

// StartControlPlane starts a real control plane on loopback and waits for
// /readyz.
func StartControlPlane(t TB, opts ControlPlaneOptions) *ControlPlane {
	t.Helper()
	etcd := opts.Etcd
	if etcd == nil {
		etcd = StartEtcd(t)
	}
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		t.Fatalf("cert dir: %v", err)
	}
	saKey := filepath.Join(dir, "sa.key")
	writeRSAKey(t, saKey)
	token := randomHex(t, 16)
	tokenFile := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokenFile, token+",admin,admin-uid,system:masters\n")

	port := FreePort(t)
	host := fmt.Sprintf("https://127.0.0.1:%d", port)
	apiArgs := []string{
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir", certDir,
		"--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--token-auth-file", tokenFile,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none",
	}
	auditLog := ""
	if opts.AuditLog {
		auditLog = filepath.Join(dir, "audit.log")
		policy := filepath.Join(dir, "audit-policy.yaml")
		writeFile(t, policy, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n")
		apiArgs = append(apiArgs, "--audit-policy-file", policy, "--audit-log-path", auditLog, "--audit-log-format=json")
	}
	caFile := filepath.Join(certDir, "apiserver.crt")
	cp := &ControlPlane{Host: host, Token: token, CAFile: caFile, AuditLog: auditLog, dir: dir, apiArgs: apiArgs}
	cp.startAPIServer(t, etcd)

	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, kubeconfig, host, caFile, token)
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	cp.Kubeconfig, cp.Clientset, cp.REST = kubeconfig, cs, restCfg

	if !opts.WithoutControllerManager {
		controllers := DefaultControllers
		kcmArgs := []string{
			"--kubeconfig", kubeconfig,
			"--leader-elect=false",
			"--secure-port=0",
			"--service-cluster-ip-range=10.0.0.0/24",
			// Quota and job controllers resync quickly so tests see status soon.
			"--resource-quota-sync-period=5s",
			"--concurrent-resource-quota-syncs=2",
		}
		if opts.ClusterCIDR != "" || opts.NodeCIDRMaskSize != 0 {
			if opts.ClusterCIDR == "" || opts.NodeCIDRMaskSize == 0 {
				t.Fatalf("node IPAM needs both ClusterCIDR and NodeCIDRMaskSize")
			}
			controllers += ",nodeipam"
			kcmArgs = append(kcmArgs, "--allocate-node-cidrs",
				"--cluster-cidr="+opts.ClusterCIDR,
				fmt.Sprintf("--node-cidr-mask-size=%d", opts.NodeCIDRMaskSize))
		}
		kcmArgs = append(kcmArgs, "--controllers="+controllers)
		cp.ControllerManager = start(t, "kube-controller-manager", dir, Tool(t, "kube-controller-manager"), kcmArgs, nil)
		waitFor(t, cp.ControllerManager, "kube-controller-manager", 30*time.Second, func() error {
			// The default service account appearing proves the controllers run.
			_, err := cs.CoreV1().ServiceAccounts("default").Get(context.Background(), "default", metav1.GetOptions{})
			return err
		})
	}
	return cp
}

// startAPIServer starts kube-apiserver on etcd and waits for /readyz.
func (cp *ControlPlane) startAPIServer(t TB, etcd *Etcd) {
	t.Helper()
	name := "kube-apiserver"
	if cp.restarts > 0 {
		name = fmt.Sprintf("kube-apiserver-%d", cp.restarts+1)
	}
	args := append([]string{"--etcd-servers", strings.Join(etcd.Endpoints, ",")}, cp.apiArgs...)
	cp.APIServer = start(t, name, cp.dir, Tool(t, "kube-apiserver"), args, nil)
	cp.Etcd = etcd
	waitFor(t, cp.APIServer, name+" /readyz", 90*time.Second, func() error { return readyz(cp.Host, cp.Token, cp.CAFile) })
}

// RestartAPIServer stops kube-apiserver and starts it again on etcd (a
// restored one, say) at the same address, with the same serving
// certificate and tokens: clients built before, informers included, keep
// working across the restart as they would against a real control plane.
func (cp *ControlPlane) RestartAPIServer(t TB, etcd *Etcd) {
	t.Helper()
	cp.APIServer.Stop()
	cp.restarts++
	cp.startAPIServer(t, etcd)
}

// Stop stops the controller-manager, the API server and etcd (data kept).
func (cp *ControlPlane) Stop() {
	if cp.ControllerManager != nil {
		cp.ControllerManager.Stop()
	}
	cp.APIServer.Stop()
	cp.Etcd.Stop()
}

func readyz(host, token, caFile string) error {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return err // the API server writes it at start
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodGet, host+"/readyz", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	return nil
}

// KubeconfigWithToken writes a kubeconfig for this API server that
// authenticates with token (a ServiceAccount's, to act with its RBAC
// rather than as system:masters) and returns its path.
func (c *ControlPlane) KubeconfigWithToken(t TB, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	writeKubeconfig(t, path, c.Host, c.CAFile, token)
	return path
}

func writeKubeconfig(t TB, path, host, caFile, token string) {
	writeFile(t, path, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: k8sguard-test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: k8sguard-test
  context: {cluster: k8sguard-test, user: admin}
current-context: k8sguard-test
`, host, caFile, token))
}

func writeRSAKey(t TB, path string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("rsa key: %v", err)
	}
	writeFile(t, path, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
}

func writeFile(t TB, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func randomHex(t TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}
