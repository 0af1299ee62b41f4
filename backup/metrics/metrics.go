// Package metrics is the agent's Prometheus surface: every series exists
// from the first scrape (an absent series cannot alert), named
// etcdguard_<noun>_<unit>.
package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/drill"
	"github.com/k8sguard/k8sguard/backup/snapshot"
)

// Metrics holds the agent's series.
type Metrics struct {
	Registry         *prometheus.Registry
	LastSuccess      prometheus.Gauge
	Duration         prometheus.Histogram
	Size             *prometheus.GaugeVec
	Revision         prometheus.Gauge
	Keys             prometheus.Gauge
	Failures         *prometheus.CounterVec
	RetentionDeleted prometheus.Counter
	Leader           prometheus.Gauge
	// Drill is the scheduled restore drill's series (drill.interval).
	Drill *drill.Metrics

	// Delta chains (delta.interval).
	DeltaLastRevision prometheus.Gauge
	DeltaSegments     prometheus.Counter
	DeltaBytes        prometheus.Counter
	ChainBreaks       *prometheus.CounterVec
	DeltaBridges      *prometheus.CounterVec
	// covered is the newest point the store can restore to (unix nanos):
	// etcdguard_rpo_seconds is its age at scrape time.
	covered atomic.Int64
	now     func() time.Time
}

// New registers and initialises every series, labelled with the cluster
// so that alerts can aggregate the agents of one cluster.
func New(cluster string) *Metrics {
	reg := prometheus.NewRegistry()
	labelled := prometheus.WrapRegistererWith(prometheus.Labels{"cluster": cluster}, reg)
	m := &Metrics{
		Registry: reg,
		LastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdguard_snapshot_last_success_timestamp_seconds",
			Help: "Unix time of the last snapshot whose manifest was written (0: none since start).",
		}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "etcdguard_snapshot_duration_seconds",
			Help:    "Wall time of successful snapshots, from etcd to manifest.",
			Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}),
		Size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "etcdguard_snapshot_size_bytes",
			Help: "Size of the last snapshot: raw (the etcd database) and stored (the data object).",
		}, []string{"kind"}),
		Revision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdguard_snapshot_revision",
			Help: "etcd revision of the last snapshot.",
		}),
		Keys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdguard_snapshot_keys",
			Help: "Keys in etcd at the last snapshot's revision.",
		}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcdguard_snapshot_failures_total",
			Help: "Failed snapshot attempts by stage (etcd, keys, upload, verify, manifest).",
		}, []string{"stage"}),
		RetentionDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcdguard_retention_deleted_total",
			Help: "Snapshots deleted by retention.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdguard_leader",
			Help: "1 while this agent is the elected uploader for its cluster.",
		}),
		Drill: drill.NewMetrics(),
		DeltaLastRevision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdguard_delta_last_revision",
			Help: "etcd revision up to which the newest committed delta segment covers the keyspace.",
		}),
		DeltaSegments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcdguard_delta_segments_total",
			Help: "Delta segments committed (manifest written).",
		}),
		DeltaBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcdguard_delta_bytes_total",
			Help: "Bytes of delta segments committed, as stored (compressed).",
		}),
		ChainBreaks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcdguard_delta_chain_breaks_total",
			Help: "Delta chains broken, by reason (compacted, gap, store, leadership); each forces a new full snapshot.",
		}, []string{"reason"}),
		DeltaBridges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcdguard_delta_bridges_total",
			Help: "Bridges a newly elected agent wrote at the end of its predecessor's chain, up to its own first snapshot, by result (committed, compacted, withdrawn, failed).",
		}, []string{"result"}),
		now: time.Now,
	}
	rpo := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "etcdguard_rpo_seconds",
		Help: "Age of the newest point the store can restore to: the newest committed delta segment's coverage, or the newest full snapshot without deltas (0 until the agent knows either).",
	}, m.rpoSeconds)
	for _, reason := range delta.BreakReasons {
		m.ChainBreaks.WithLabelValues(reason)
	}
	for _, result := range delta.BridgeResults {
		m.DeltaBridges.WithLabelValues(result)
	}
	for _, kind := range []string{"raw", "stored"} {
		m.Size.WithLabelValues(kind)
	}
	for _, stage := range snapshot.Stages {
		m.Failures.WithLabelValues(stage)
	}
	labelled.MustRegister(m.LastSuccess, m.Duration, m.Size, m.Revision, m.Keys, m.Failures, m.RetentionDeleted, m.Leader)
	labelled.MustRegister(m.Drill.Collectors()...)
	labelled.MustRegister(m.DeltaLastRevision, m.DeltaSegments, m.DeltaBytes, m.ChainBreaks, m.DeltaBridges, rpo)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe records a successful snapshot.
func (m *Metrics) Observe(r *snapshot.Result) {
	m.Duration.Observe(r.Duration.Seconds())
	m.Found(r.Manifest)
	m.LastSuccess.Set(float64(r.Manifest.CreatedAt.Add(r.Duration).Unix()))
}

// Found records the newest snapshot already in the store, so that a
// restarted agent does not look stale until its first snapshot.
func (m *Metrics) Found(mf *snapshot.Manifest) {
	m.LastSuccess.Set(float64(mf.CreatedAt.Unix()))
	m.Size.WithLabelValues("raw").Set(float64(mf.RawSize))
	m.Size.WithLabelValues("stored").Set(float64(mf.StoredSize))
	m.Revision.Set(float64(mf.Revision))
	m.Keys.Set(float64(mf.Keys))
	m.Covered(mf.CreatedAt)
}

// Segment records a committed delta segment.
func (m *Metrics) Segment(s *delta.Manifest) {
	m.DeltaSegments.Inc()
	m.DeltaBytes.Add(float64(s.StoredSize))
	m.DeltaLastRevision.Set(float64(s.LastRevision))
	m.Covered(s.CoveredAt)
}

// Covered moves the newest restorable point forward to t (never back).
func (m *Metrics) Covered(t time.Time) {
	n := t.UnixNano()
	for {
		old := m.covered.Load()
		if n <= old || m.covered.CompareAndSwap(old, n) {
			return
		}
	}
}

func (m *Metrics) rpoSeconds() float64 {
	c := m.covered.Load()
	if c == 0 {
		return 0
	}
	return max(m.now().Sub(time.Unix(0, c)).Seconds(), 0)
}

// Handler serves /metrics, /healthz (the process answers) and /readyz
// (ready reports nil once etcd and the store have been reached).
func (m *Metrics) Handler(ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}
