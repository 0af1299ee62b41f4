package backup_test

// Fault injection in front of the real programs: a TCP proxy for etcd
// (refuse, cut mid-stream, throttle) and an HTTP reverse proxy for
// versitygw (5xx, delays, refusal).

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tcpProxy forwards a loopback port to target.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
	// delayPerChunk slows the server→client direction: each 32 KiB waits.
	delayPerChunk time.Duration
	toClient      atomic.Int64
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.Cut() })
	go p.serve()
	return p
}

// URL is the proxy's address as an etcd client URL.
func (p *tcpProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns[c] = true
		}
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		go p.forward(c)
	}
}

// SetTarget sends new connections to target (an etcd restarted on other
// ports); open ones stay as they are until cut.
func (p *tcpProxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

func (p *tcpProxy) forward(c net.Conn) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			p.mu.Lock()
			d := p.delayPerChunk
			p.mu.Unlock()
			time.Sleep(d)
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
			p.toClient.Add(int64(n))
		}
		if err != nil {
			break
		}
	}
	c.Close()
}

// SetDown refuses (closes) new connections and cuts the open ones.
func (p *tcpProxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.Cut()
	}
}

// Cut closes every open connection, mid-stream.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *tcpProxy) Throttle(perChunk time.Duration) {
	p.mu.Lock()
	p.delayPerChunk = perChunk
	p.mu.Unlock()
}

// s3Proxy is a reverse proxy in front of versitygw that injects faults.
type s3Proxy struct {
	srv *httptest.Server

	mu sync.Mutex
	// fail returns an HTTP status to answer a request with instead of
	// forwarding it (0: forward).
	fail func(r *http.Request) int
	// delay holds each request back before forwarding.
	delay time.Duration
	// errorCode is the S3 error code of injected answers ("SlowDown");
	// "" derives it from the status text ("ServiceUnavailable").
	errorCode   string
	uploadParts atomic.Int64
	partSeen    chan struct{}
	// inflight counts the requests the proxy holds or forwards: one sent
	// by a process that was then killed may still land at the gateway.
	inflight atomic.Int64
}

func startS3Proxy(t *testing.T, target string) *s3Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{partSeen: make(chan struct{}, 1000)}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.inflight.Add(1)
		defer p.inflight.Add(-1)
		isPart := r.Method == http.MethodPut && r.URL.Query().Has("partNumber")
		if isPart {
			p.uploadParts.Add(1)
			select {
			case p.partSeen <- struct{}{}:
			default:
			}
		}
		p.mu.Lock()
		fail, delay, errorCode := p.fail, p.delay, p.errorCode
		p.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if fail != nil {
			if code := fail(r); code != 0 {
				if errorCode == "" {
					errorCode = strings.ReplaceAll(http.StatusText(code), " ", "")
				}
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(code)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by the test proxy</Message></Error>`, errorCode)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *s3Proxy) URL() string { return p.srv.URL }

// waitIdle waits until no request is held or forwarded: what a killed
// client sent has landed at the gateway, or never will.
func (p *s3Proxy) waitIdle(t *testing.T) {
	t.Helper()
	waitFor(t, 30*time.Second, "the S3 proxy to finish the requests in flight", func() bool { return p.inflight.Load() == 0 })
}

func (p *s3Proxy) SetFail(f func(r *http.Request) int) {
	p.mu.Lock()
	p.fail = f
	p.mu.Unlock()
}

// SetErrorCode sets the S3 error code of the injected answers ("SlowDown",
// as S3 throttles with a 503); "" derives it from the status.
func (p *s3Proxy) SetErrorCode(code string) {
	p.mu.Lock()
	p.errorCode = code
	p.mu.Unlock()
}

func (p *s3Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// isListObjects: a LIST of the bucket (ListObjectsV2).
func isListObjects(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Has("list-type")
}

// isGetObject: a GET of one object (a manifest, a data object): a
// path-style key below the bucket.
func isGetObject(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(strings.Trim(r.URL.Path, "/"), "/")
}

func isUploadPart(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Has("partNumber")
}
