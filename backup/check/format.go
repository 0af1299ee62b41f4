package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// WriteText writes the Nagios plugin form: a status line with the worst
// findings and performance data, then every finding on its own line.
func (r *Report) WriteText(w io.Writer) error {
	var worst []string
	for _, f := range r.Findings {
		if f.Status == r.Status && f.Status != OK {
			worst = append(worst, f.Message)
		}
	}
	summary := strings.Join(worst, "; ")
	if r.Status == OK {
		summary = fmt.Sprintf("%d snapshot(s) of %s in %s", r.Snapshots, r.Cluster, r.Store)
	}
	// Without a snapshot the age is unknown ("U" in the plugin format),
	// not 0s, which a graph would show as fresh.
	keys, age := int64(0), "U"
	if r.Newest != nil {
		keys, age = r.Newest.Keys, fmt.Sprintf("%.0fs", r.AgeSeconds)
	}
	fmt.Fprintf(w, "ETCDGUARD %s - %s | age=%s snapshots=%d keys=%d orphans=%d open_shrinks=%d\n",
		r.Status, summary, age, r.Snapshots, keys, r.Orphans, r.OpenShrinks)
	for _, f := range r.Findings {
		if _, err := fmt.Fprintf(w, "%s %s: %s\n", f.Status, f.Check, f.Message); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Gatherer exposes the report as Prometheus metrics, labelled by cluster.
func (r *Report) Gatherer() prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"cluster": r.Cluster}
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
		g.Set(v)
		reg.MustRegister(g)
	}
	gauge("etcdguard_check_status", "Outcome of etcdguard check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.", float64(r.Status))
	gauge("etcdguard_check_timestamp_seconds", "When the check ran.", float64(r.CheckedAt.Unix()))
	gauge("etcdguard_check_snapshots", "Complete snapshots in the store.", float64(r.Snapshots))
	newest, keys := 0.0, 0.0
	if r.Newest != nil {
		newest, keys = float64(r.Newest.CreatedAt.Unix()), float64(r.Newest.Keys)
	}
	gauge("etcdguard_check_newest_snapshot_timestamp_seconds", "Creation time of the newest complete snapshot (0: none).", newest)
	gauge("etcdguard_check_newest_snapshot_keys", "Keys in the newest complete snapshot.", keys)
	gauge("etcdguard_check_orphans", "Data objects without a manifest.", float64(r.Orphans))
	gauge("etcdguard_check_broken_manifests", "Manifests that could not be read.", float64(r.Broken))
	gauge("etcdguard_check_open_shrinks", "Unacknowledged, unresolved shrinks.", float64(r.OpenShrinks))
	failed := 0.0
	if r.LastFailure != nil {
		failed = float64(r.LastFailure.At.Unix())
	}
	gauge("etcdguard_check_last_failure_timestamp_seconds", "Time of a failed attempt newer than the newest snapshot (0: none).", failed)
	if r.LastDrill != nil {
		gauge("etcdguard_check_last_drill_success_timestamp_seconds", "Start of the last successful restore drill recorded in the store.", float64(r.LastDrill.Unix()))
	}
	if r.Chain != nil {
		gauge("etcdguard_check_rpo_seconds", "Age of the newest point the store can restore to (the newest delta segment's coverage).", r.RPOSeconds)
		ok := 1.0
		if r.Chain.Broken != "" {
			ok = 0
		}
		gauge("etcdguard_check_delta_chain_ok", "1 when the newest snapshot's delta chain has no missing link.", ok)
	}
	if r.Verified != nil {
		v := 0.0
		if *r.Verified {
			v = 1
		}
		gauge("etcdguard_check_verify_ok", "1 when the newest snapshot's sha256 matched its manifest.", v)
	}
	return reg
}

// WritePrometheus writes the metrics in the text exposition format.
func (r *Report) WritePrometheus(w io.Writer) error {
	mfs, err := r.Gatherer().Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return err
		}
	}
	return nil
}

// WriteTextfile writes the metrics to path atomically, for node_exporter's
// textfile collector.
func (r *Report) WriteTextfile(path string) error {
	if err := prometheus.WriteToTextfile(path, r.Gatherer()); err != nil {
		return fmt.Errorf("textfile %s: %w", path, err)
	}
	return nil
}
