package guard

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Pod quota rule IDs.
const (
	RuleQuotaPodsRequired       = "QUOTA_PODS_REQUIRED"
	RuleQuotaPodsAboveMax       = "QUOTA_PODS_ABOVE_CLUSTER_MAX"
	RuleQuotaJobsAbovePods      = "QUOTA_JOBS_ABOVE_PODS"
	RuleQuotaInvalidQuantity    = "QUOTA_INVALID_QUANTITY"
	RuleQuotaProtectedNamespace = "QUOTA_PROTECTED_NAMESPACE"
)

var storyZalandoCronJob = Story{
	Name: "CronJob pod explosion (Zalando incident 2)",
	// Zalando's talk "Running Kubernetes in Production: A Million Ways to
	// Crash Your Cluster" (DevOpsCon Munich 2018), the slides.
	URL: "https://www.slideshare.net/try_except_/running-kubernetes-in-production-a-million-ways-to-crash-your-cluster-devopscon-munich-2018",
}

var _ = register(
	Rule{ID: RuleQuotaPodsRequired, Family: "quota", Severity: Error, Waivable: false, Story: storyZalandoCronJob,
		Checks: "`pods` is at least 1: the pod cap is the point of the quota"},
	Rule{ID: RuleQuotaPodsAboveMax, Family: "quota", Severity: Error, Waivable: true, Story: storyZalandoCronJob, UsesSettings: true,
		Checks: "`pods` is at most the provider's `max_pods_per_namespace`"},
	Rule{ID: RuleQuotaJobsAbovePods, Family: "quota", Severity: Warning, Waivable: false, Story: storyZalandoCronJob,
		Checks: "`jobs` is not above `pods` (every running Job needs a pod, so a larger job cap binds only on finished Jobs)"},
	Rule{ID: RuleQuotaInvalidQuantity, Family: "quota", Severity: Error, Waivable: false, Story: storyZalandoCronJob,
		Checks: "every CPU and memory amount is a valid, non-negative Kubernetes quantity, and no default request is above its default limit " +
			"(the API server refuses such a LimitRange)"},
	Rule{ID: RuleQuotaProtectedNamespace, Family: "quota", Severity: Warning, Waivable: false, Story: storyZalandoCronJob, UsesSettings: true,
		Checks: "the quota is not in a protected namespace, where a full quota stops the control plane's own pods"},
)

// PodQuota is a k8sguard_pod_quota as the rules see it. Counts are nil when
// unset or not known until apply.
type PodQuota struct {
	Namespace        string
	Pods, Jobs       *int64
	CronJobs         *int64
	Quantities       []Quantity
	NamespaceUnknown bool
}

// Quantity is one CPU or memory amount and where it was written.
type Quantity struct {
	Path  Path
	Value string
}

// CheckPodQuota runs the pod quota rules.
func CheckPodQuota(q PodQuota, s Settings) []Finding {
	var out []Finding
	if q.Pods != nil && *q.Pods < 1 {
		out = append(out, finding(RuleQuotaPodsRequired, Path{"pods"},
			"pods = %d: the pod cap must be at least 1. It is what stops a runaway CronJob or controller from flooding the API server "+
				"and etcd; to stop a namespace's workloads, scale them down instead.", *q.Pods))
	}
	if q.Pods != nil && s.MaxPodsPerNamespace > 0 && *q.Pods > s.MaxPodsPerNamespace {
		out = append(out, finding(RuleQuotaPodsAboveMax, Path{"pods"},
			"pods = %d is above the provider's max_pods_per_namespace (%d): one namespace this large can still flood the API server "+
				"and etcd. Lower it, or raise max_pods_per_namespace for the cluster.", *q.Pods, s.MaxPodsPerNamespace))
	}
	if q.Pods != nil && q.Jobs != nil && *q.Jobs > *q.Pods {
		out = append(out, finding(RuleQuotaJobsAbovePods, Path{"jobs"},
			"jobs = %d is above pods = %d: every running Job needs a pod, so the pod cap binds first on running Jobs, and this cap "+
				"(it counts every Job object) binds only on finished Jobs kept as CronJob history. Set jobs to at most pods for a job cap "+
				"that binds on running Jobs too.", *q.Jobs, *q.Pods))
	}
	parsed := map[string]resource.Quantity{} // by attrName, the valid ones
	for _, v := range q.Quantities {
		if v.Value == "" {
			continue
		}
		qty, err := resource.ParseQuantity(v.Value)
		if err == nil && qty.Sign() >= 0 {
			parsed[attrName(v.Path)] = qty
		}
		switch {
		case err != nil:
			out = append(out, finding(RuleQuotaInvalidQuantity, v.Path,
				"%s = %q is not a Kubernetes quantity: write a number with an optional suffix, like \"500m\" or \"2\" for CPU "+
					"and \"512Mi\" or \"64Gi\" for memory (binary suffixes Ki, Mi, Gi; decimal k, M, G).", attrName(v.Path), v.Value))
		case qty.Sign() < 0:
			out = append(out, finding(RuleQuotaInvalidQuantity, v.Path,
				"%s = %q is negative: a quota or default amount must be zero or more.", attrName(v.Path), v.Value))
		}
	}
	for _, v := range q.Quantities {
		name := attrName(v.Path)
		res, ok := strings.CutPrefix(name, "default_container_requests.")
		if !ok {
			continue
		}
		req, okReq := parsed[name]
		lim, okLim := parsed["default_container_limits."+res]
		if okReq && okLim && req.Cmp(lim) > 0 {
			out = append(out, finding(RuleQuotaInvalidQuantity, v.Path,
				"%s = %q is above default_container_limits.%s = %q: the API server refuses a LimitRange whose default request "+
					"exceeds its default limit, so the apply would fail. Lower the request or raise the limit.", name, v.Value, res, lim.String()))
		}
	}
	if !q.NamespaceUnknown && slices.Contains(s.ProtectedNamespaces, q.Namespace) {
		out = append(out, finding(RuleQuotaProtectedNamespace, Path{"namespace"},
			"namespace %q is protected: when a quota there is full, the control plane's own pods (DNS, CNI, proxies) cannot be "+
				"created either. Leave generous headroom, or quota the teams' namespaces instead.", q.Namespace))
	}
	return out
}

// attrName is the path as the user wrote it: "requests_cpu",
// "default_container_limits.memory".
func attrName(p Path) string {
	var names Path
	for _, s := range p {
		if _, isIndex := s.(int); !isIndex {
			names = append(names, s)
		}
	}
	return names.String()
}
