// Package check is `etcdguard check`: what is in the store, judged the
// way a Nagios plugin judges (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), and
// reported as text, JSON or Prometheus metrics. It answers the second
// lesson of Zalando's incident 4: monitor the snapshots, not just take them.
package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/drill"
	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/retention"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// Status is a Nagios plugin state; its value is the exit code.
type Status int

const (
	OK       Status = 0
	Warning  Status = 1
	Critical Status = 2
	Unknown  Status = 3
)

func (s Status) String() string {
	return [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}[s]
}

// MarshalJSON writes the name ("CRITICAL").
func (s Status) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Finding is one judged fact.
type Finding struct {
	Status  Status `json:"status"`
	Check   string `json:"check"` // age, shrink, orphans, manifests, failure, verify, store
	Message string `json:"message"`
}

// Options are check's thresholds.
type Options struct {
	Cluster     string
	MaxAge      time.Duration
	ShrinkRatio float64
	Verify      bool
	// MaxDrillAge: no successful restore drill within it is a WARNING;
	// 0 leaves drills unchecked (config.MaxDrillAgeOrDefault).
	MaxDrillAge time.Duration
	// Deltas judges the newest full snapshot's delta chain (config
	// delta.interval > 0): CRITICAL when it is broken, WARNING or CRITICAL
	// when its recovery point is older than MaxRPOWarning/MaxRPOCritical.
	Deltas                        bool
	MaxRPOWarning, MaxRPOCritical time.Duration
	Now                           time.Time
}

// Report is the outcome of a check.
type Report struct {
	Status      Status             `json:"status"`
	Cluster     string             `json:"cluster"`
	Store       string             `json:"store"`
	CheckedAt   time.Time          `json:"checked_at"`
	Snapshots   int                `json:"snapshots"`
	Newest      *snapshot.Manifest `json:"newest,omitempty"`
	AgeSeconds  float64            `json:"newest_age_seconds"`
	Orphans     int                `json:"orphans"`
	Broken      int                `json:"broken_manifests"`
	OpenShrinks int                `json:"open_shrinks"`
	LastFailure *snapshot.Failure  `json:"last_failure,omitempty"`
	Verified    *bool              `json:"verified,omitempty"`
	// LastDrill is when the last successful restore drill started; set
	// when drills are checked and one has succeeded.
	LastDrill *time.Time `json:"last_drill_success,omitempty"`
	// Chain is the newest snapshot's delta chain and RPOSeconds the age of
	// its newest restorable point; set when deltas are checked.
	Chain      *ChainReport `json:"delta_chain,omitempty"`
	RPOSeconds float64      `json:"rpo_seconds"`
	Findings   []Finding    `json:"findings"`
}

// ChainReport is the newest delta chain as check saw it.
type ChainReport struct {
	Snapshot     string    `json:"snapshot"`
	Segments     int       `json:"segments"`
	LastRevision int64     `json:"last_revision"`
	CoveredAt    time.Time `json:"covered_at,omitzero"`
	Broken       string    `json:"broken,omitempty"`
}

func (r *Report) add(s Status, check, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Status: s, Check: check, Message: fmt.Sprintf(format, args...)})
	if s > r.Status {
		r.Status = s
	}
}

// Run checks the store. It never fails: an unreadable store is UNKNOWN.
func Run(ctx context.Context, st store.Store, o Options) *Report {
	r := &Report{Cluster: o.Cluster, Store: st.String(), CheckedAt: o.Now.UTC(), Findings: []Finding{}}
	l, err := snapshot.List(ctx, st, o.Cluster)
	if err != nil {
		r.add(Unknown, "store", "cannot list %s: %s", st, store.Describe(err))
		return r
	}
	r.Snapshots, r.Orphans, r.Broken = len(l.Snapshots), len(l.Orphans), len(l.Broken)

	if len(l.Snapshots) == 0 {
		r.add(Critical, "age", "no complete snapshot of cluster %q in %s", o.Cluster, st)
	} else {
		r.Newest = l.Snapshots[0]
		age := o.Now.Sub(r.Newest.CreatedAt)
		r.AgeSeconds = age.Seconds()
		if age > o.MaxAge {
			r.add(Critical, "age", "newest snapshot %s is %s old (max_age %s)", r.Newest.Name(), roundAge(age), o.MaxAge)
		} else {
			r.add(OK, "age", "newest snapshot %s is %s old, revision %d, %d keys", r.Newest.Name(), roundAge(age), r.Newest.Revision, r.Newest.Keys)
		}
	}

	acks, err := snapshot.ShrinkAcks(ctx, st, o.Cluster)
	if err != nil {
		r.add(Unknown, "shrink", "cannot read shrink acknowledgements: %v", err)
	}
	for _, s := range retention.FindShrinks(l.Snapshots, o.ShrinkRatio, acks) {
		if s.Open() {
			r.OpenShrinks++
			r.add(Critical, "shrink", "%s; %s is kept until a snapshot is as large again, or acknowledge with: etcdguard check --ack-shrink %s", s, s.Before.Name(), s.After.Name())
		}
	}

	if len(l.Orphans) > 0 {
		var keys []string
		for _, o := range l.Orphans {
			keys = append(keys, o.Key)
		}
		r.add(Warning, "orphans", "%d data object(s) without a manifest (interrupted snapshots; the agent and 'etcdguard snapshot' remove them once an hour old): %s", len(keys), strings.Join(keys, ", "))
	}
	for _, err := range l.Broken {
		r.add(Warning, "manifests", "unreadable manifest: %v", err)
	}

	if f, err := snapshot.LastFailure(ctx, st, o.Cluster); err != nil {
		r.add(Unknown, "failure", "cannot read the last failure record: %v", err)
	} else if f != nil && (r.Newest == nil || f.At.After(r.Newest.CreatedAt)) {
		r.LastFailure = f
		r.add(Warning, "failure", "the last snapshot attempt failed at stage %s at %s: %s", f.Stage, f.At.Format(time.RFC3339), f.Error)
	}

	if o.MaxDrillAge > 0 {
		r.checkDrill(ctx, st, o)
	}
	if o.Deltas && r.Newest != nil {
		r.checkChain(ctx, st, o, l.Snapshots)
	}

	if o.Verify && r.Newest != nil {
		err := Verify(ctx, st, r.Newest)
		var corrupt *restore.IntegrityError
		ok := err == nil
		switch {
		case err == nil:
			r.add(OK, "verify", "newest snapshot %s: sha256 of stored and raw bytes match the manifest, and etcd's trailing hash matches", r.Newest.Name())
		case errors.As(err, &corrupt) || errors.Is(err, store.ErrNotFound):
			// The object does not match its manifest, or is gone: the
			// newest snapshot does not restore.
			r.add(Critical, "verify", "%v", err)
		default:
			// The store failed the read (throttled, 5xx, unreachable):
			// nothing is known about the object, and verify_ok stays
			// unset rather than paging as a corrupt backup.
			r.add(Unknown, "verify", "cannot verify the newest snapshot (the store failed the read; check again): %v", err)
			r.Verified = nil
			return r
		}
		r.Verified = &ok
	}
	return r
}

// checkDrill judges the last successful restore drill the drill package
// recorded in the store: a backup is only as good as the last restore
// that worked.
func (r *Report) checkDrill(ctx context.Context, st store.Store, o Options) {
	last, err := drill.LastSuccess(ctx, st, o.Cluster)
	switch {
	case err != nil:
		r.add(Unknown, "drill", "cannot read the last restore drill: %v", err)
	case last == nil:
		r.add(Warning, "drill", "no restore drill of cluster %q has succeeded (max_drill_age %s); run 'etcdguard drill' or set drill.interval for the agent", o.Cluster, o.MaxDrillAge)
	default:
		at := last.StartedAt.UTC()
		r.LastDrill = &at
		if age := o.Now.Sub(at); age > o.MaxDrillAge {
			r.add(Warning, "drill", "the last successful restore drill (of %s) was %s ago (max_drill_age %s)", last.Snapshot, roundAge(age), o.MaxDrillAge)
		} else {
			r.add(OK, "drill", "the last successful restore drill (of %s, RTO %.1fs) was %s ago", last.Snapshot, last.Seconds, roundAge(age))
		}
	}
}

// checkChain judges the recovery point: the newest full snapshot's delta
// chain, from a listing and its newest segment's manifest. A snapshot taken
// by hand while the agent runs starts no chain, and the agent's chain, from
// its own older snapshot, goes on past it: that chain is then the one
// judged.
func (r *Report) checkChain(ctx context.Context, st store.Store, o Options, snaps []*snapshot.Manifest) {
	out, err := delta.RecoveryChain(ctx, st, snaps, func(m *snapshot.Manifest) bool {
		return o.MaxAge <= 0 || o.Now.Sub(m.CreatedAt) <= o.MaxAge
	})
	switch {
	case err != nil:
		r.add(Unknown, "rpo", "cannot read %v", err)
		return
	case out == nil:
		r.add(OK, "rpo", "no delta segments after %s: point-in-time restore is not in use (delta.interval 0, or snapshots from the timer, not the agent); the recovery point is the newest snapshot", r.Newest.Name())
		return
	}
	chainOf := out.Snapshot
	r.Chain = &ChainReport{Snapshot: chainOf.Name(), Segments: out.Segments, LastRevision: out.LastRevision, CoveredAt: out.CoveredAt, Broken: out.Gap}
	if out.Gap != "" {
		r.RPOSeconds = o.Now.Sub(chainOf.CreatedAt).Seconds()
		r.add(Critical, "chain", "the delta chain of %s is broken: %s; point-in-time restores reach only revision %d", chainOf.Name(), out.Gap, out.GapRevision)
		return
	}
	rpo := o.Now.Sub(out.CoveredAt)
	r.RPOSeconds = max(rpo.Seconds(), 0)
	what := fmt.Sprintf("recovery point %s old: the delta chain of %s, %d segment(s) up to revision %d", roundAge(max(rpo, 0)), chainOf.Name(), out.Segments, out.LastRevision)
	switch {
	case rpo > o.MaxRPOCritical:
		r.add(Critical, "rpo", "%s (max_rpo_critical %s)", what, o.MaxRPOCritical)
	case rpo > o.MaxRPOWarning:
		r.add(Warning, "rpo", "%s (max_rpo_warning %s)", what, o.MaxRPOWarning)
	default:
		r.add(OK, "rpo", "%s", what)
	}
}

func roundAge(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

// Verify re-reads a snapshot's data object through the same stream a
// restore uses (restore.Stream): the stored object's size and sha256, the
// decompressed .db's size and sha256 against the manifest, and etcd's own
// trailing hash. A check that passes is a restore that would.
func Verify(ctx context.Context, st store.Store, m *snapshot.Manifest) error {
	if _, err := restore.Stream(ctx, st, m, io.Discard); err != nil {
		return fmt.Errorf("snapshot %s: %w", m.Name(), err)
	}
	return nil
}
