package kubernetes_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/test/infra"
)

// denyLabel on an object makes the test backend reject it: the policy the
// "OPA" of these tests enforces.
const denyLabel = "opa-test"

// admissionBackend is a real HTTPS admission webhook server on loopback,
// with its own self-signed CA (passed to the webhook as ca_bundle). It is
// created down: Start brings it up on its fixed port, Stop takes it down,
// so a test can show what the API server does in both cases.
type admissionBackend struct {
	URL   string // https://127.0.0.1:<port>/v1/admit
	CAPEM string
	addr  string
	cert  tls.Certificate

	mu     sync.Mutex
	srv    *http.Server
	review []string // "namespace/name" of every object reviewed
}

func newAdmissionBackend(t *testing.T) *admissionBackend {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "k8sguard test admission CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("admission backend CA: %v", err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("admission backend certificate: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", infra.FreePort(t))
	b := &admissionBackend{
		URL:   "https://" + addr + "/v1/admit",
		CAPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		addr:  addr,
		cert:  tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key},
	}
	t.Cleanup(b.Stop)
	return b
}

func (b *admissionBackend) Start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		t.Fatalf("admission backend listen %s: %v", b.addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/admit", b.admit)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{b.cert}}, ReadHeaderTimeout: 5 * time.Second}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go func() { _ = srv.ServeTLS(ln, "", "") }()
}

func (b *admissionBackend) Stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Reviewed returns the objects the backend was asked about.
func (b *admissionBackend) Reviewed() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.review...)
}

func (b *admissionBackend) admit(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	req := review.Request
	var obj metav1.PartialObjectMetadata
	_ = json.Unmarshal(req.Object.Raw, &obj)
	b.mu.Lock()
	b.review = append(b.review, req.Namespace+"/"+req.Name)
	b.mu.Unlock()
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if obj.Labels[denyLabel] == "deny" {
		resp.Allowed = false
		resp.Result = &metav1.Status{Code: http.StatusForbidden, Message: fmt.Sprintf("test policy: %s/%s carries %s=deny", req.Namespace, req.Name, denyLabel)}
	}
	review.Response = resp
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}
