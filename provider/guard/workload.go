package guard

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Rules for the objects Terraform never sees (CronJobs, Services,
// Deployments, StatefulSets, namespaces): the API server enforces them
// through k8sguard_admission_guardrails and k8sguard_cluster_audit reports
// the live objects that break them. No k8sguard resource plans these
// objects, so they are not enforced at plan.
const (
	RuleCronJobUnbounded       = "CRONJOB_UNBOUNDED_CONCURRENCY"
	RuleServiceDashboardPublic = "SERVICE_DASHBOARD_EXPOSED"
	RuleWorkloadNoSpread       = "WORKLOAD_NO_SPREAD"
	RuleWorkloadNoGraceful     = "WORKLOAD_NO_GRACEFUL_SHUTDOWN"
	RuleWorkloadCPULimit       = "WORKLOAD_CPU_LIMIT"
	RuleQuotaMissingPods       = "QUOTA_MISSING_PODS"
)

// WaiverAnnotationPrefix starts the annotation that waives one rule for
// one live object: `k8sguard.io/waive.<RULE_ID>: "<reason>"`. As with the
// resources' waivers, only a waivable rule can be waived, and only with a
// written reason.
const WaiverAnnotationPrefix = "k8sguard.io/waive."

var (
	storyWeaveScope = Story{
		Name: "Weave Scope dashboard on a public load balancer, cryptominer on the nodes (JW Player)",
		URL:  "https://k8s.af/",
	}
	storyMoonlight = Story{
		Name: "every replica on one node, one kernel panic took the site down (Moonlight)",
		URL:  "https://k8s.af/",
	}
	storyRavelin = Story{
		Name: "SIGTERM before the load balancer stopped sending traffic, 502s on every rollout (Ravelin)",
		URL:  "https://k8s.af/",
	}
	storyBuffer = Story{
		Name: "CPU limits throttled services with idle CPU on the node (Buffer)",
		URL:  "https://k8s.af/",
	}
)

var _ = register(
	Rule{ID: RuleCronJobUnbounded, Family: "workload", Severity: Error, Waivable: true, Story: storyZalandoCronJob,
		Enforced: AtAPIServer | AtAudit,
		Checks:   "a CronJob with `concurrencyPolicy: Allow` (the default) sets `startingDeadlineSeconds` or the job template's `activeDeadlineSeconds`"},
	Rule{ID: RuleServiceDashboardPublic, Family: "workload", Severity: Error, Waivable: true, Story: storyWeaveScope,
		Enforced: AtAPIServer | AtAudit,
		Checks: "a LoadBalancer or NodePort Service that selects a known dashboard (a selector value in the dashboard list) or carries a " +
			"dashboard port (4040, or a port name containing `dashboard`) opens no node port and has `loadBalancerSourceRanges`, none of " +
			"length 0 (`0.0.0.0/0`, `::/0`, or any address written with `/0`, which the load balancer masks to everywhere; the older " +
			"`service.beta.kubernetes.io/load-balancer-source-ranges` annotation does not count): a NodePort never does, and a LoadBalancer " +
			"opens node ports unless `allocateLoadBalancerNodePorts` is false and no port sets a `nodePort`"},
	Rule{ID: RuleWorkloadNoSpread, Family: "workload", Severity: Warning, Waivable: true, Story: storyMoonlight,
		Enforced: AtAPIServer | AtAudit,
		Checks: "a Deployment or StatefulSet with `replicas` ≥ 2 has pod anti-affinity or `topologySpreadConstraints`; a scale through the " +
			"`scale` subresource (no pod template to judge) from below 2 replicas to 2 or more is flagged, never denied"},
	Rule{ID: RuleWorkloadNoGraceful, Family: "workload", Severity: Warning, Waivable: true, Story: storyRavelin,
		Enforced: AtAPIServer | AtAudit,
		Checks: "every container of a Deployment or StatefulSet that declares a port has a `preStop` hook, and a `preStop` sleep is " +
			"shorter than `terminationGracePeriodSeconds`"},
	Rule{ID: RuleWorkloadCPULimit, Family: "workload", Severity: Warning, Waivable: true, Story: storyBuffer,
		Enforced: AtAPIServer | AtAudit,
		Checks:   "no container of a Deployment or StatefulSet sets a CPU limit"},
	Rule{ID: RuleQuotaMissingPods, Family: "quota", Severity: Warning, Waivable: true, Story: storyZalandoCronJob,
		Enforced: AtAudit,
		Checks:   "every namespace but the protected ones has a ResourceQuota with a `pods` limit"},
)

// Message formats, rendered word for word into the guardrails' CEL.
const (
	MsgCronJobUnbounded = "concurrencyPolicy is Allow (the default) with neither spec.startingDeadlineSeconds nor spec.jobTemplate.spec.activeDeadlineSeconds: " +
		"runs that never finish overlap and pile up pods until the API server and etcd fall over. Set concurrencyPolicy Forbid or " +
		"Replace in the CronJob spec (not in the pod template, where it is silently dropped), or bound each run with activeDeadlineSeconds."
	MsgServiceDashboardExposed = "%s Service exposes a dashboard (%s) to anyone who can reach %s: an open Weave Scope let attackers run a cryptominer as root " +
		"on the nodes. Use type LoadBalancer with loadBalancerSourceRanges for the admin network and allocateLoadBalancerNodePorts false, " +
		"or ClusterIP and kubectl port-forward."
	MsgWorkloadNoSpread = "%s with %d replicas has neither pod anti-affinity nor topologySpreadConstraints: the scheduler may put every replica on one node, " +
		"and one node failure takes them all down. Add a topologySpreadConstraint on kubernetes.io/hostname, or pod anti-affinity."
	MsgWorkloadScaledUnseen = "%s scaled from %d to %d replicas through the scale subresource (kubectl scale, an autoscaler), which shows the guardrails " +
		"no pod template: they cannot tell whether it has pod anti-affinity or topologySpreadConstraints, and without them one node failure takes " +
		"every replica down. Check it with k8sguard_cluster_audit, or set spec.replicas on the %s itself, where its template is judged."
	MsgWorkloadNoPreStop = "container %q serves a port but has no preStop hook: on rollout or scale-down it gets SIGTERM while the load balancer still " +
		"sends it traffic, and clients get 502s. Add a preStop sleep longer than the load balancer takes to deregister it."
	MsgWorkloadGraceTooShort = "container %q sleeps %ds in preStop but terminationGracePeriodSeconds is %d: the kubelet kills it before it has drained. " +
		"Make terminationGracePeriodSeconds longer than the preStop sleep."
	MsgWorkloadCPULimit = "container %q sets a CPU limit (%s): the CFS quota throttles it even when the node has idle CPU, which shows up as latency. " +
		"Set a CPU request and leave the limit out."
)

// DashboardNames are the selector values that mark a Service as fronting a
// cluster dashboard or admin UI: the `app`, `name`, `k8s-app` or
// `app.kubernetes.io/name` values their upstream manifests and charts use.
// Any selector key counts, so the list stays one list of names.
var DashboardNames = []string{
	"alertmanager", "argocd-server", "grafana", "headlamp", "jaeger-query", "kiali", "kibana",
	"kubernetes-dashboard", "kubernetes-dashboard-web", "prometheus", "weave-scope", "weave-scope-app",
}

// DashboardPort is Weave Scope's app port; a port whose name contains
// DashboardPortName also marks a dashboard.
const (
	DashboardPort     = 4040
	DashboardPortName = "dashboard"
)

// SpreadMinReplicas is the replica count from which WORKLOAD_NO_SPREAD
// asks for spread: one replica has nothing to spread.
const SpreadMinReplicas = 2

// Scale is a change of replicas through the scale subresource (kubectl
// scale, a HorizontalPodAutoscaler): the API server shows admission an
// autoscaling/v1 Scale, with the replica counts and no pod template.
type Scale struct {
	Kind     string // of the scaled workload: Deployment or StatefulSet
	From, To int64
}

// CheckScale is WORKLOAD_NO_SPREAD on a scale: the rule cannot be decided
// without the pod template, so the scale that makes it apply (from below
// SpreadMinReplicas to at least that) is flagged for a look; scaling
// between counts the rule treats alike is not, the workload having been
// judged when it got its replicas.
func CheckScale(s Scale) []Finding {
	if s.From >= SpreadMinReplicas || s.To < SpreadMinReplicas {
		return nil
	}
	return []Finding{finding(RuleWorkloadNoSpread, Path{"spec", "replicas"}, MsgWorkloadScaledUnseen, s.Kind, s.From, s.To, s.Kind)}
}

// DefaultTerminationGracePeriodSeconds is what the API server sets when a
// pod template leaves it out.
const DefaultTerminationGracePeriodSeconds = 30

// Object names a live object in findings: kind, namespace (empty for
// cluster-scoped objects) and name, plus its annotations for waivers.
type Object struct {
	Kind, Namespace, Name string
	Annotations           map[string]string
}

// CronJob is what the CronJob rule reads. ConcurrencyPolicy "" is the
// API's default, Allow.
type CronJob struct {
	ConcurrencyPolicy       string
	StartingDeadlineSeconds *int64
	ActiveDeadlineSeconds   *int64 // spec.jobTemplate.spec.activeDeadlineSeconds
}

// Service is what the dashboard rule reads.
type Service struct {
	Type                     string // ClusterIP, NodePort, LoadBalancer, ExternalName
	Selector                 map[string]string
	Ports                    []ServicePort
	LoadBalancerSourceRanges []string
	// AllocateLoadBalancerNodePorts nil is the API's default for a
	// LoadBalancer: true.
	AllocateLoadBalancerNodePorts *bool
}

// ServicePort is one port of a Service; TargetPort is its number or name
// as written ("" when unset), NodePort 0 when none is set or allocated.
type ServicePort struct {
	Name       string
	Port       int64
	TargetPort string
	NodePort   int64
}

// Workload is a Deployment or StatefulSet's pod template as the workload
// rules read it. Replicas and TerminationGracePeriodSeconds nil are the
// API defaults (1 and 30).
type Workload struct {
	Kind                          string
	Replicas                      *int64
	PodAntiAffinity               bool // required or preferred terms
	TopologySpreadConstraints     int
	TerminationGracePeriodSeconds *int64
	Containers                    []Container
}

// Container is one container of a pod template.
type Container struct {
	Name     string
	Ports    int
	PreStop  *PreStop
	CPULimit string // as the API server prints the quantity; "" when unset
}

// PreStop is a container's preStop hook; SleepSeconds is set for the sleep
// action, whose length the rules can compare with the grace period.
type PreStop struct {
	SleepSeconds *int64
}

// CheckCronJob is CRONJOB_UNBOUNDED_CONCURRENCY.
func CheckCronJob(c CronJob) []Finding {
	if policy := c.ConcurrencyPolicy; policy != "" && policy != "Allow" {
		return nil
	}
	if c.StartingDeadlineSeconds != nil || c.ActiveDeadlineSeconds != nil {
		return nil
	}
	return []Finding{finding(RuleCronJobUnbounded, Path{"spec", "concurrencyPolicy"}, MsgCronJobUnbounded)}
}

// OpenSourceRangePattern matches a source range that admits every
// address: one of length 0, whatever address it is written with. The
// cloud providers and kube-proxy parse each range and mask it, so
// "10.1.2.3/0" (which the API server accepted before
// StrictIPCIDRValidation, and keeps on objects stored before it) is
// "0.0.0.0/0", and a zero-padded "/00" is too; "::/0" admits every IPv6
// client. The guardrails' CEL matches the trimmed range with it.
const OpenSourceRangePattern = `^[^/]*/0+$`

var openSourceRange = regexp.MustCompile(OpenSourceRangePattern)

// restrictsSources reports whether loadBalancerSourceRanges keep anyone
// out: some range is given, and none of them is everywhere. Only the
// field counts, not the older
// service.beta.kubernetes.io/load-balancer-source-ranges annotation.
func restrictsSources(ranges []string) bool {
	return len(ranges) > 0 && !slices.ContainsFunc(ranges, func(r string) bool { return openSourceRange.MatchString(strings.TrimSpace(r)) })
}

// Where an exposed dashboard can be reached from, as the message says it.
const (
	ReachNodePort     = "any node's address"
	ReachLoadBalancer = "the load balancer"
	// A LoadBalancer's node ports: kube-proxy applies
	// loadBalancerSourceRanges to traffic for the load balancer's address
	// only, so the node ports stay open to whoever reaches a node.
	ReachLoadBalancerNodePorts = "any node's address on its node ports (loadBalancerSourceRanges restrict only the load balancer)"
)

// opensNodePorts reports whether a LoadBalancer Service opens node ports:
// the API server allocates one per port unless
// allocateLoadBalancerNodePorts is false, and a nodePort set explicitly is
// opened either way.
func opensNodePorts(s Service) bool {
	return s.AllocateLoadBalancerNodePorts == nil || *s.AllocateLoadBalancerNodePorts ||
		slices.ContainsFunc(s.Ports, func(p ServicePort) bool { return p.NodePort != 0 })
}

// CheckService is SERVICE_DASHBOARD_EXPOSED.
func CheckService(s Service) []Finding {
	var reach string
	switch {
	case s.Type == "NodePort":
		reach = ReachNodePort
	case s.Type == "LoadBalancer" && !restrictsSources(s.LoadBalancerSourceRanges):
		reach = ReachLoadBalancer
	case s.Type == "LoadBalancer" && opensNodePorts(s):
		reach = ReachLoadBalancerNodePorts
	default:
		return nil
	}
	what, ok := dashboardEvidence(s)
	if !ok {
		return nil
	}
	return []Finding{finding(RuleServiceDashboardPublic, Path{"spec", "type"},
		MsgServiceDashboardExposed,
		s.Type, what, reach)}
}

// dashboardEvidence says why s fronts a dashboard: the first selector key
// (in key order) whose value is a dashboard name, else the first port
// that is a dashboard port.
func dashboardEvidence(s Service) (string, bool) {
	keys := make([]string, 0, len(s.Selector))
	for k := range s.Selector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if slices.Contains(DashboardNames, s.Selector[k]) {
			return fmt.Sprintf("selector %s=%s", k, s.Selector[k]), true
		}
	}
	for _, p := range s.Ports {
		if p.Port == DashboardPort || p.TargetPort == fmt.Sprint(DashboardPort) ||
			strings.Contains(p.Name, DashboardPortName) || strings.Contains(p.TargetPort, DashboardPortName) {
			return fmt.Sprintf("port %d", p.Port), true
		}
	}
	return "", false
}

// CheckWorkload runs the workload rules: spread, graceful shutdown, CPU
// limits. Each reports the first container that breaks it.
func CheckWorkload(w Workload) []Finding {
	var out []Finding
	replicas := int64(1)
	if w.Replicas != nil {
		replicas = *w.Replicas
	}
	if replicas >= SpreadMinReplicas && !w.PodAntiAffinity && w.TopologySpreadConstraints == 0 {
		out = append(out, finding(RuleWorkloadNoSpread, Path{"spec", "template", "spec"},
			MsgWorkloadNoSpread,
			w.Kind, replicas))
	}
	grace := int64(DefaultTerminationGracePeriodSeconds)
	if w.TerminationGracePeriodSeconds != nil {
		grace = *w.TerminationGracePeriodSeconds
	}
	for _, c := range w.Containers {
		if c.Ports == 0 {
			continue // serves no traffic, so has none to drain
		}
		if c.PreStop == nil {
			out = append(out, finding(RuleWorkloadNoGraceful, Path{"spec", "template", "spec", "containers"},
				MsgWorkloadNoPreStop, c.Name))
			break
		}
		if s := c.PreStop.SleepSeconds; s != nil && *s >= grace {
			out = append(out, finding(RuleWorkloadNoGraceful, Path{"spec", "template", "spec", "terminationGracePeriodSeconds"},
				MsgWorkloadGraceTooShort, c.Name, *s, grace))
			break
		}
	}
	for _, c := range w.Containers {
		if c.CPULimit != "" {
			out = append(out, finding(RuleWorkloadCPULimit, Path{"spec", "template", "spec", "containers"},
				MsgWorkloadCPULimit, c.Name, c.CPULimit))
			break
		}
	}
	return out
}

// CheckNamespaceQuota is QUOTA_MISSING_PODS for one namespace: hasPodsQuota
// says whether a ResourceQuota in it sets `pods`.
func CheckNamespaceQuota(namespace string, hasPodsQuota bool, s Settings) []Finding {
	if hasPodsQuota || slices.Contains(s.ProtectedNamespaces, namespace) {
		return nil
	}
	return []Finding{finding(RuleQuotaMissingPods, Path{"spec", "hard", "pods"},
		"namespace %q has no ResourceQuota with a pods limit: a runaway CronJob or controller there can create pods until the API server "+
			"and etcd fall over. Cap it with a k8sguard_pod_quota.", namespace)}
}

// AnnotationWaivers reads the `k8sguard.io/waive.<RULE_ID>` annotations of
// a live object into the rule → reason map ApplyWaivers takes.
func AnnotationWaivers(annotations map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range annotations {
		if id, ok := strings.CutPrefix(k, WaiverAnnotationPrefix); ok {
			out[id] = v
		}
	}
	return out
}

// WaivedByAnnotation reports whether a live object's annotations waive
// rule id: the rule is waivable and the annotation gives a reason. This is
// the meaning the guardrails' match condition renders.
func WaivedByAnnotation(id string, annotations map[string]string) bool {
	r, ok := catalog[id]
	return ok && r.Waivable && strings.TrimSpace(annotations[WaiverAnnotationPrefix+id]) != ""
}
