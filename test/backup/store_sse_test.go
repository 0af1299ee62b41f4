package backup_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

// The k8sguard_etcd_backup_bucket policy denies an upload without
// x-amz-server-side-encryption: with store.sse set, every request that
// creates an object (PutObject, CreateMultipartUpload) carries it, into the
// real versitygw. Reading a multipart object back (verify) must not print
// the SDK's "Skipped validation of multipart checksum" line, which alarms
// operators for nothing (a composite checksum cannot be checked whole).
func TestS3StoreSendsSSEOnEveryUploadAndGetIsQuiet(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 14) // random values: a multipart data object of 3 parts
	proxy := startS3Proxy(t, s.Endpoint)
	var (
		mu      sync.Mutex
		creates []string // "METHOD path?query sse=…" of each object-creating request
	)
	proxy.SetFail(func(r *http.Request) int {
		put := r.Method == http.MethodPut && !r.URL.Query().Has("partNumber") && r.Header.Get("X-Amz-Copy-Source") == ""
		create := r.Method == http.MethodPost && r.URL.Query().Has("uploads")
		if put || create {
			mu.Lock()
			creates = append(creates, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" sse="+r.Header.Get("X-Amz-Server-Side-Encryption"))
			mu.Unlock()
			if r.Header.Get("X-Amz-Server-Side-Encryption") == "" {
				return http.StatusForbidden // what the bucket policy answers
			}
		}
		return 0
	})
	env := append(snapEnv(e, s, proxy.URL()), "ETCDGUARD_STORE_SSE=AES256")

	out, errOut, code := snapRun(t, env, "snapshot")
	if code != 0 {
		t.Fatalf("snapshot with sse AES256: exit %d\n%s\n%s", code, out, errOut)
	}
	mu.Lock()
	got := append([]string(nil), creates...)
	mu.Unlock()
	var multipart, manifest bool
	for _, c := range got {
		if !strings.HasSuffix(c, " sse=AES256") {
			t.Errorf("upload without x-amz-server-side-encryption: AES256: %s", c)
		}
		multipart = multipart || strings.Contains(c, ".db.zst?uploads")
		manifest = manifest || strings.Contains(c, ".json?")
	}
	if !multipart || !manifest {
		t.Fatalf("want a multipart data upload and a manifest put, saw:\n%s", strings.Join(got, "\n"))
	}

	out, errOut, code = snapRun(t, env, "verify", "--snapshot", "latest")
	if code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(errOut+out, "Skipped validation") {
		t.Fatalf("the SDK's checksum line reached the operator:\n%s", errOut)
	}
}
