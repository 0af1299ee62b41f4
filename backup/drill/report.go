package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/k8sguard/k8sguard/backup/record"
	"github.com/k8sguard/k8sguard/backup/store"
)

// WriteText prints the report for a terminal: the verdict, the time of
// each phase (the RTO breakdown) and every check.
func (r *Report) WriteText(w io.Writer) error {
	verdict := "PASSED"
	if !r.OK {
		verdict = "FAILED"
	}
	bumped := ""
	if r.RevisionBump > 0 {
		bumped = fmt.Sprintf(" bumped by %d", r.RevisionBump)
	}
	fmt.Fprintf(w, "drill of %s (revision %d%s, %d keys, %s): %s in %s\n",
		r.Snapshot, r.Revision, bumped, r.Keys, humanize.IBytes(uint64(r.RawSize)), verdict, r.Duration().Round(time.Millisecond))
	if r.Point != "" {
		fmt.Fprintf(w, "point in time %s: %d delta events replayed, up to revision %d\n", r.Point, r.ReplayedEvents, r.ReplayedTo)
	}
	for _, l := range r.Leftovers {
		fmt.Fprintf(w, "removed %s, left by a drill that was killed\n", l)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tseconds")
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "%s\t%.3f\n", p.Phase, p.Seconds)
	}
	fmt.Fprintf(tw, "total (RTO)\t%.3f\n", r.Seconds)
	if len(r.Checks) > 0 {
		fmt.Fprintln(tw, "\ncheck\tresult\tdetail")
		for _, c := range r.Checks {
			res := "ok"
			if !c.OK {
				res = "FAIL"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, res, c.Detail)
		}
	}
	// A failed drill's error is the command's error, printed once on
	// stderr; Report.Error keeps it for --json.
	return tw.Flush()
}

// Metric names the drill exports (through --textfile, for node_exporter's
// textfile collector, and through the agent's /metrics).
const (
	MetricLastSuccess = "etcdguard_drill_last_success_timestamp_seconds"
	MetricDuration    = "etcdguard_drill_duration_seconds"
	MetricSuccess     = "etcdguard_drill_success"
)

// Metrics are the drill's series, the same in the agent's /metrics and
// in a --textfile: every phase present from the start (0 until reached),
// phase="total" the measured RTO.
type Metrics struct {
	LastSuccess prometheus.Gauge
	Success     prometheus.Gauge
	Duration    *prometheus.GaugeVec
}

// NewMetrics makes the drill's series, initialised.
func NewMetrics() *Metrics {
	m := &Metrics{
		LastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricLastSuccess, Help: "Unix time of the last successful restore drill (0: none known)."}),
		Success:     prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricSuccess, Help: "1 when the last restore drill passed, 0 when it failed or none ran."}),
		Duration:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricDuration, Help: "Time of each phase of the last restore drill; phase=\"total\" is the measured RTO."}, []string{"phase"}),
	}
	for _, p := range append(Phases, "total") {
		m.Duration.WithLabelValues(p)
	}
	return m
}

// Collectors are the series to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.LastSuccess, m.Success, m.Duration}
}

// Observe records a drill. lastSuccess is the latest successful drill
// (r itself when it passed); zero leaves the gauge as it is.
func (m *Metrics) Observe(r *Report, lastSuccess time.Time) {
	if !lastSuccess.IsZero() {
		m.LastSuccess.Set(float64(lastSuccess.Unix()))
	}
	m.Success.Set(0)
	if r.OK {
		m.Success.Set(1)
	}
	for _, p := range Phases {
		m.Duration.WithLabelValues(p).Set(0) // a phase this drill did not reach
	}
	for _, p := range r.Phases {
		m.Duration.WithLabelValues(p.Phase).Set(p.Seconds)
	}
	m.Duration.WithLabelValues("total").Set(r.Seconds)
}

// WriteTextfile writes the drill's metrics atomically to path in the
// Prometheus text format. lastSuccess is the latest successful drill (this
// one when it passed); zero writes 0, "never".
func (r *Report) WriteTextfile(path string, lastSuccess time.Time) error {
	reg := prometheus.NewRegistry()
	m := NewMetrics()
	prometheus.WrapRegistererWith(prometheus.Labels{"cluster": r.Cluster}, reg).MustRegister(m.Collectors()...)
	m.Observe(r, lastSuccess)
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("write drill metrics to %s: %w", path, err)
	}
	return nil
}

// lastSuccessRecord names the report of the cluster's last successful
// drill among its records, so `check` can tell how old it is from anywhere.
const lastSuccessRecord = "drill-last-success.json"

// Record stores a successful report as the cluster's last success.
func Record(ctx context.Context, s store.Store, r *Report) error {
	if !r.OK {
		return errors.New("only a successful drill is recorded")
	}
	if err := record.Put(ctx, s, r.Cluster, lastSuccessRecord, r); err != nil {
		return fmt.Errorf("record drill in %s: %w", s, err)
	}
	return nil
}

// LastSuccess returns the report of cluster's last successful drill, or
// nil (and no error) when there has been none.
func LastSuccess(ctx context.Context, s store.Store, cluster string) (*Report, error) {
	var r Report
	found, err := record.Get(ctx, s, cluster, lastSuccessRecord, &r)
	if err != nil {
		return nil, fmt.Errorf("last drill of %q: %w", cluster, err)
	}
	if !found {
		return nil, nil
	}
	return &r, nil
}
