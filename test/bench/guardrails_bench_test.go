package bench_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/k8sguard/k8sguard/provider/guard"
	guardcel "github.com/k8sguard/k8sguard/provider/guard/cel"
	"github.com/k8sguard/k8sguard/provider/guard/guardtest"
	"github.com/k8sguard/k8sguard/test/infra"
)

const benchNamespace = "bench"

// BenchmarkAdmissionGuardrailsCreateLatency measures what the guardrails
// cost every write: 1,000 ConfigMap and 1,000 Deployment creates without
// them (the baseline) and 1,000 of each with every policy k8sguard_admission_guardrails
// installs, on one control plane, in 40 phases of 50 creates ordered
// without, with, with, without, ... (ABBA, so a load that drifts during the
// run weighs on both conditions alike; short phases, because on a shared
// machine a burst of someone else's work lasts a few seconds, and in 250-
// create phases it landed on one condition: the ConfigMap ratios, which no
// policy judges, moved between 0.93 and 1.33). ConfigMaps match no policy; Deployments are judged by
// the workload rules (and pass them). The figures are p50 and p99 ratios,
// guarded / baseline (target ≤ 1.1). Alongside, the API server's own
// metric says how long its ValidatingAdmissionPolicy plugin took per
// create in each condition: the part of the latency the guardrails can
// add, free of the machine's scheduling noise.
func BenchmarkAdmissionGuardrailsCreateLatency(b *testing.B) {
	const perPhase, phases, warmup = 50, 40, 100
	cp := infra.StartControlPlane(b, infra.ControlPlaneOptions{})
	cs := unthrottled(b, cp)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	settings := guard.Settings{ProtectedNamespaces: []string{"kube-system", "kube-public", "kube-node-lease"}, MaxWebhookTimeoutSeconds: 5}
	policies := guardcel.Policies(guardcel.Options{Name: "bench", ProtectedNamespaces: settings.ProtectedNamespaces, Settings: settings})

	samples := map[string][]time.Duration{} // "<kind>/<condition>"
	seq := 0
	createRound := func(condition string, n int, record bool) {
		for range n {
			seq++
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%05d", seq), Namespace: benchNamespace},
				Data: map[string]string{"k": strings.Repeat("v", 256)}}
			start := time.Now()
			if _, err := cs.CoreV1().ConfigMaps(benchNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				b.Fatalf("create ConfigMap: %v", err)
			}
			cmTook := time.Since(start)
			d := guardtest.SpreadlessDeployment(benchNamespace)
			d.Name = fmt.Sprintf("site-%05d", seq)
			d.Spec.Replicas = ptrInt32(1) // passes every rule: judged in full, no warning
			start = time.Now()
			if _, err := cs.AppsV1().Deployments(benchNamespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
				b.Fatalf("create Deployment: %v", err)
			}
			dTook := time.Since(start)
			if record {
				samples["ConfigMap/"+condition] = append(samples["ConfigMap/"+condition], cmTook)
				samples["Deployment/"+condition] = append(samples["Deployment/"+condition], dTook)
			}
		}
	}

	createRound("warmup", warmup, false)
	plugin := map[string]pluginTime{} // condition → the policy plugin's time on creates
	installed := false
	for phase := range phases {
		condition := "without"
		if (phase+1)%4 >= 2 { // without, with, with, without, ...
			condition = "with"
		}
		if want := condition == "with"; want != installed {
			if want {
				installGuardrails(b, cp, policies)
			} else {
				removeGuardrails(b, cp, policies)
			}
			installed = want
		}
		before := policyPluginTime(b, cs)
		createRound(condition, perPhase, true)
		plugin[condition] = plugin[condition].add(policyPluginTime(b, cs).since(before))
	}
	if installed {
		removeGuardrails(b, cp, policies)
	}

	var report strings.Builder
	fmt.Fprintf(&report, "create latency, %d creates per kind and condition (alternating phases of %d), one control plane:\n", perPhase*phases/2, perPhase)
	fmt.Fprintf(&report, "  %-10s  %12s  %12s  %12s  %12s  %8s  %8s\n", "kind", "p50 without", "p50 with", "p99 without", "p99 with", "p50 ×", "p99 ×")
	for _, kind := range []string{"ConfigMap", "Deployment"} {
		without, with := samples[kind+"/without"], samples[kind+"/with"]
		p50w, p50g := percentile(without, 50), percentile(with, 50)
		p99w, p99g := percentile(without, 99), percentile(with, 99)
		r50, r99 := float64(p50g)/float64(p50w), float64(p99g)/float64(p99w)
		fmt.Fprintf(&report, "  %-10s  %12s  %12s  %12s  %12s  %8.3f  %8.3f\n", kind,
			p50w.Round(time.Microsecond), p50g.Round(time.Microsecond), p99w.Round(time.Microsecond), p99g.Round(time.Microsecond), r50, r99)
		b.ReportMetric(r50, "p50_ratio_"+kind)
		b.ReportMetric(r99, "p99_ratio_"+kind)
	}
	fmt.Fprintf(&report, "  (ratio = with guardrails / without; target ≤ 1.1; %d policies installed)\n", len(policies))
	fmt.Fprintf(&report, "  the API server's ValidatingAdmissionPolicy plugin, mean per create (apiserver_admission_controller_admission_duration_seconds): "+
		"%s without (%d creates), %s with (%d creates, half of them ConfigMaps)", plugin["without"].mean(), plugin["without"].count, plugin["with"].mean(), plugin["with"].count)
	// The metric does not say which resource a create was for. No policy
	// matches a ConfigMap, so one takes what any create takes without the
	// guardrails; the rest of the time is the Deployments'.
	deployments := plugin["with"].count / 2
	perDeployment := time.Duration((plugin["with"].seconds - float64(deployments)*plugin["without"].mean().Seconds()) / float64(deployments) * float64(time.Second))
	fmt.Fprintf(&report, "; so about %s per Deployment", perDeployment.Round(100*time.Nanosecond))
	b.ReportMetric(float64(perDeployment.Microseconds()), "policy_plugin_us/deployment")
	b.Log(report.String())
}

// pluginTime is the time the API server spent in its
// ValidatingAdmissionPolicy admission plugin validating creates, and how
// many creates it judged.
type pluginTime struct {
	seconds float64
	count   int64
}

func (p pluginTime) since(q pluginTime) pluginTime {
	return pluginTime{p.seconds - q.seconds, p.count - q.count}
}

func (p pluginTime) add(q pluginTime) pluginTime {
	return pluginTime{p.seconds + q.seconds, p.count + q.count}
}

func (p pluginTime) mean() time.Duration {
	if p.count == 0 {
		return 0
	}
	return time.Duration(p.seconds / float64(p.count) * float64(time.Second)).Round(100 * time.Nanosecond)
}

// policyPluginTime reads the API server's /metrics: the sum and count of
// apiserver_admission_controller_admission_duration_seconds for the
// ValidatingAdmissionPolicy plugin on CREATE, over both values of
// "rejected". (apiserver_validating_admission_policy_check_duration_seconds
// would split it by policy, but the API server observes it only for
// validations that fail.)
func policyPluginTime(b *testing.B, cs kubernetes.Interface) pluginTime {
	b.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		b.Fatalf("read the API server's metrics: %v", err)
	}
	const metric = "apiserver_admission_controller_admission_duration_seconds"
	filters := []string{`name="ValidatingAdmissionPolicy"`, `operation="CREATE"`, `type="validate"`}
	var out pluginTime
	found := false
	for _, line := range strings.Split(string(raw), "\n") {
		name, rest, ok := strings.Cut(line, "{")
		if !ok || (name != metric+"_sum" && name != metric+"_count") {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		if !allIn(labels, filters) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			b.Fatalf("metrics line %q: %v", line, err)
		}
		if name == metric+"_sum" {
			out.seconds += v
			found = true
		} else {
			out.count += int64(v)
		}
	}
	if !found {
		b.Fatalf("the API server's metrics have no %s for the ValidatingAdmissionPolicy plugin on CREATE", metric)
	}
	return out
}

func allIn(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func ptrInt32(v int32) *int32 { return &v }

// unthrottled is a clientset without client-go's default rate limiter
// (5 requests a second, per API group): the figures must time the API
// server, not the client waiting for a token.
func unthrottled(b *testing.B, cp *infra.ControlPlane) kubernetes.Interface {
	b.Helper()
	cfg := rest.CopyConfig(cp.REST)
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// percentile is the nearest-rank percentile of the samples.
func percentile(samples []time.Duration, p int) time.Duration {
	s := slices.Clone(samples)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

// installGuardrails creates the policies and bindings and waits until the
// API server enforces them (a dry-run Weave Scope Service is denied, a
// dry-run spreadless Deployment warned about).
func installGuardrails(b *testing.B, cp *infra.ControlPlane, policies []guardcel.Policy) {
	b.Helper()
	ctx := context.Background()
	api := cp.Clientset.AdmissionregistrationV1()
	for _, p := range policies {
		if _, err := api.ValidatingAdmissionPolicies().Create(ctx, p.Policy, metav1.CreateOptions{}); err != nil {
			b.Fatalf("create policy %s: %v", p.Name, err)
		}
		if _, err := api.ValidatingAdmissionPolicyBindings().Create(ctx, p.Binding, metav1.CreateOptions{}); err != nil {
			b.Fatalf("create binding %s: %v", p.Name, err)
		}
	}
	waitEnforced(b, cp, true)
}

func removeGuardrails(b *testing.B, cp *infra.ControlPlane, policies []guardcel.Policy) {
	b.Helper()
	ctx := context.Background()
	api := cp.Clientset.AdmissionregistrationV1()
	for _, p := range policies {
		if err := api.ValidatingAdmissionPolicyBindings().Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			b.Fatalf("delete binding %s: %v", p.Name, err)
		}
		if err := api.ValidatingAdmissionPolicies().Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			b.Fatalf("delete policy %s: %v", p.Name, err)
		}
	}
	waitEnforced(b, cp, false)
}

// warningCount counts the Warning headers the API server sends.
type warningCount struct{ n atomic.Int64 }

func (w *warningCount) HandleWarningHeader(code int, _ string, text string) {
	if code == 299 && strings.Contains(text, "[WORKLOAD_NO_SPREAD]") {
		w.n.Add(1)
	}
}

// waitEnforced polls with dry runs until every policy is (want) or is not
// enforced: a Weave Scope Service and the Zalando CronJob denied, a
// spreadless Deployment warned about. Each policy loads on its own.
func waitEnforced(b *testing.B, cp *infra.ControlPlane, want bool) {
	b.Helper()
	warnings := &warningCount{}
	cfg := rest.CopyConfig(cp.REST)
	cfg.WarningHandler = warnings
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, svcErr := cs.CoreV1().Services(benchNamespace).Create(ctx, guardtest.WeaveScopeService(benchNamespace), dry)
		_, cronErr := cs.BatchV1().CronJobs(benchNamespace).Create(ctx, guardtest.ZalandoCronJob(benchNamespace), dry)
		before := warnings.n.Load()
		_, deployErr := cs.AppsV1().Deployments(benchNamespace).Create(ctx, guardtest.SpreadlessDeployment(benchNamespace), dry)
		warned := warnings.n.Load() > before
		enforced := svcErr != nil && strings.Contains(svcErr.Error(), "[SERVICE_DASHBOARD_EXPOSED]") &&
			cronErr != nil && strings.Contains(cronErr.Error(), "[CRONJOB_UNBOUNDED_CONCURRENCY]") && deployErr == nil && warned
		lifted := svcErr == nil && cronErr == nil && deployErr == nil && !warned
		if (want && enforced) || (!want && lifted) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("guardrails enforced=%v not reached in 60s: service %v, cronjob %v, deployment %v warned %v", want, svcErr, cronErr, deployErr, warned)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
