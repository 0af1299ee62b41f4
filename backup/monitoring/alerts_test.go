package monitoring

import (
	"bytes"
	"regexp"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/k8sguard/k8sguard/backup/check"
	"github.com/k8sguard/k8sguard/backup/metrics"
	"github.com/k8sguard/k8sguard/backup/snapshot"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var metricName = regexp.MustCompile(`etcdguard_[a-z_]+`)

// Every series an alert reads must be one the agent or check exports, and
// the four failure modes the issue names must each have an alert.
func TestAlertsReadExportedSeries(t *testing.T) {
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(Alerts))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	exported := map[string]bool{}
	mfs, err := metrics.New("c").Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	ok := true
	r := &check.Report{Cluster: "c", CheckedAt: time.Now(), Verified: &ok, Newest: &snapshot.Manifest{}, Chain: &check.ChainReport{}}
	more, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range append(mfs, more...) {
		exported[mf.GetName()] = true
		if mf.GetType().String() == "HISTOGRAM" {
			exported[mf.GetName()+"_bucket"] = true
		}
	}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, rule := range g.Rules {
			alerts[rule.Alert] = true
			if rule.Labels["severity"] == "" || rule.Annotations["summary"] == "" {
				t.Errorf("%s: needs a severity label and a summary", rule.Alert)
			}
			if rule.For != "" {
				if _, err := time.ParseDuration(rule.For); err != nil {
					t.Errorf("%s: for %q: %v", rule.Alert, rule.For, err)
				}
			}
			for _, name := range metricName.FindAllString(rule.Expr, -1) {
				if !exported[name] {
					t.Errorf("%s reads %s, which nothing exports", rule.Alert, name)
				}
			}
		}
	}
	for _, want := range []string{"EtcdBackupStale", "EtcdBackupFailing", "EtcdBackupShrunk", "EtcdBackupNoLeader", "EtcdBackupDrillStale",
		"EtcdBackupRPOHigh", "EtcdBackupRPOCritical", "EtcdBackupDeltaChainBreaking", "EtcdBackupDeltaChainBroken"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}
