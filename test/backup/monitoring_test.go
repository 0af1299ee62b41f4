package backup_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/k8sguard/k8sguard/backup/monitoring"
	"github.com/k8sguard/k8sguard/test/infra"
)

// promtool returns Debian's promtool (package prometheus), the pinned one
// .ci/run installs.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install prometheus (.ci/run does); the alert rule tests need it")
	}
	return p
}

// Every alert in alerts.yaml has promtool cases that make it fire and a
// healthy case where it stays silent, and promtool passes them all.
func TestAlertRulesUnitTestsWithPromtool(t *testing.T) {
	bin := promtool(t)
	root, err := infra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "backup", "monitoring")

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(monitoring.Alerts, &rules); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			Name  string `yaml:"name"`
			Cases []struct {
				Alert string           `yaml:"alertname"`
				Exp   []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatalf("alerts_test.yaml: %v", err)
	}
	fires, silentWhenHealthy := map[string]bool{}, map[string]bool{}
	cases := 0
	for _, g := range tests.Tests {
		for _, c := range g.Cases {
			cases++
			if len(c.Exp) > 0 {
				fires[c.Alert] = true
			} else if g.Name == "healthy" {
				silentWhenHealthy[c.Alert] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] {
				t.Errorf("%s: no promtool case in alerts_test.yaml where it fires", r.Alert)
			}
			if !silentWhenHealthy[r.Alert] {
				t.Errorf("%s: no case in the healthy test of alerts_test.yaml where it stays silent", r.Alert)
			}
		}
	}

	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	}
	t.Logf("%d alerts, each firing on its failure and silent on a healthy cluster: %d promtool tests, %d alert_rule_test cases", n, len(tests.Tests), cases)
}

// dashboardQueries returns every PromQL expression of dashboard.json: the
// panels' targets and the template variables' queries.
func dashboardQueries(t *testing.T) []string {
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(monitoring.Dashboard, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok && v.Type == "query" {
			exprs = append(exprs, fmt.Sprint(q["query"]))
		}
	}
	return exprs
}

var (
	promMetricName = regexp.MustCompile(`\betcdguard_[a-z0-9_]+`)
	sampleName     = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]`)
)

// exportedNames are the metric names of the series in a Prometheus text
// exposition (histograms appear as _bucket, _sum and _count).
func exportedNames(text string, into map[string]bool) {
	for _, line := range strings.Split(text, "\n") {
		if m := sampleName.FindStringSubmatch(line); m != nil {
			into[m[1]] = true
		}
	}
}

// rpoMetrics are the series behind the dashboard's recovery point row: the
// agent's RPO and delta counters and etcdguard check's view of the chain.
// The dashboard must show them (issue 13: "RPO once deltas exist").
var rpoMetrics = []string{
	"etcdguard_rpo_seconds", "etcdguard_delta_segments_total", "etcdguard_delta_bytes_total",
	"etcdguard_delta_last_revision", "etcdguard_delta_chain_breaks_total",
	"etcdguard_check_rpo_seconds", "etcdguard_check_delta_chain_ok",
}

// The dashboard only queries series that exist: it scrapes a running agent
// (real etcd, real S3) with deltas on, after its first snapshot and its
// first committed delta segment, and the textfile of `etcdguard check` on
// the same store, and fails on any query naming a metric neither exports.
// The recovery point row's metrics must be among those queried and
// exported.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	exprs := dashboardQueries(t)
	if len(exprs) < 10 {
		t.Fatalf("dashboard.json has only %d queries", len(exprs))
	}

	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 1)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", infra.FreePort(t))
	env := append(deltaAgentEnv(e, s, ""), "ETCDGUARD_METRICS_LISTEN="+metricsAddr)
	agent := snapStart(t, env, "agent")
	waitFor(t, 60*time.Second, "the agent's first snapshot and delta chain", func() bool {
		return strings.Contains(agent.log(), "delta chain started")
	})
	// A change after the snapshot, so that a segment is committed (a quiet
	// etcd commits none).
	if _, err := etcdClient(t, e).Put(t.Context(), "/registry/configmaps/default/after-the-snapshot", `{"kind":"x"}`); err != nil {
		t.Fatal(err)
	}
	var scraped string
	waitFor(t, 60*time.Second, "a committed delta segment in /metrics", func() bool {
		_, scraped = httpGet("http://" + metricsAddr + "/metrics")
		return strings.Contains(scraped, `etcdguard_snapshot_keys{cluster="prod-eu1"}`) &&
			!strings.Contains(scraped, `etcdguard_snapshot_keys{cluster="prod-eu1"} 0`) &&
			strings.Contains(scraped, `etcdguard_delta_segments_total{cluster="prod-eu1"}`) &&
			!strings.Contains(scraped, `etcdguard_delta_segments_total{cluster="prod-eu1"} 0`)
	})
	textfile := filepath.Join(t.TempDir(), "etcdguard.prom")
	if _, stderr, code := snapRun(t, env, "check", "--verify", "--textfile", textfile); code != 0 {
		t.Fatalf("etcdguard check exit %d: %s", code, stderr)
	}
	checked := readFile(t, textfile)

	exported := map[string]bool{}
	exportedNames(scraped, exported)
	exportedNames(checked, exported)
	named := map[string]bool{}
	for _, expr := range exprs {
		for _, name := range promMetricName.FindAllString(expr, -1) {
			named[name] = true
			if !exported[name] {
				t.Errorf("dashboard query names %s, which neither the agent nor etcdguard check exports:\n  %s", name, expr)
			}
		}
	}
	for _, name := range rpoMetrics {
		if !named[name] {
			t.Errorf("dashboard.json has no panel querying %s (the recovery point row)", name)
		}
	}
	var names []string
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d dashboard queries name %d metrics, all exported: %s", len(exprs), len(names), strings.Join(names, ", "))
}
