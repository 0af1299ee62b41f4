package guard

import "testing"

func goodQuota() PodQuota {
	return PodQuota{
		Namespace: "team-a",
		Pods:      quotaCount(200), Jobs: quotaCount(50), CronJobs: quotaCount(10),
		Quantities: []Quantity{
			{Path{"requests_cpu"}, "20"},
			{Path{"requests_memory"}, "64Gi"},
			{Path{"limits_memory"}, "96Gi"},
			{Path{"default_container_requests", 0, "cpu"}, "100m"},
		},
	}
}

func quotaCount(v int64) *int64 { return &v }

func TestPodQuotaRules(t *testing.T) {
	tests := []struct {
		name   string
		modify func(q *PodQuota)
		want   []expectedFinding
	}{
		{"the issue's team-a quota passes", func(*PodQuota) {}, nil},
		{"zero pods", func(q *PodQuota) { q.Pods = quotaCount(0); q.Jobs = nil }, []expectedFinding{{RuleQuotaPodsRequired, "pods",
			`pods = 0: the pod cap must be at least 1. It is what stops a runaway CronJob or controller from flooding the API server and etcd; to stop a namespace's workloads, scale them down instead.`}}},
		{"above the cluster maximum", func(q *PodQuota) { q.Pods = quotaCount(5000) }, []expectedFinding{{RuleQuotaPodsAboveMax, "pods",
			`pods = 5000 is above the provider's max_pods_per_namespace (1500): one namespace this large can still flood the API server and etcd. Lower it, or raise max_pods_per_namespace for the cluster.`}}},
		{"at the cluster maximum", func(q *PodQuota) { q.Pods = quotaCount(1500) }, nil},
		{"jobs above pods", func(q *PodQuota) { q.Pods = quotaCount(10) }, []expectedFinding{{RuleQuotaJobsAbovePods, "jobs",
			`jobs = 50 is above pods = 10: every running Job needs a pod, so the pod cap binds first on running Jobs, and this cap (it counts every Job object) binds only on finished Jobs kept as CronJob history. Set jobs to at most pods for a job cap that binds on running Jobs too.`}}},
		{"malformed memory", func(q *PodQuota) { q.Quantities[1].Value = "64GB" }, []expectedFinding{{RuleQuotaInvalidQuantity, "requests_memory",
			`requests_memory = "64GB" is not a Kubernetes quantity: write a number with an optional suffix, like "500m" or "2" for CPU and "512Mi" or "64Gi" for memory (binary suffixes Ki, Mi, Gi; decimal k, M, G).`}}},
		{"malformed default in a block", func(q *PodQuota) { q.Quantities[3].Value = "0.1 cores" }, []expectedFinding{{RuleQuotaInvalidQuantity, "default_container_requests[0].cpu",
			`default_container_requests.cpu = "0.1 cores" is not a Kubernetes quantity: write a number with an optional suffix, like "500m" or "2" for CPU and "512Mi" or "64Gi" for memory (binary suffixes Ki, Mi, Gi; decimal k, M, G).`}}},
		{"negative quantity", func(q *PodQuota) { q.Quantities[0].Value = "-2" }, []expectedFinding{{RuleQuotaInvalidQuantity, "requests_cpu",
			`requests_cpu = "-2" is negative: a quota or default amount must be zero or more.`}}},
		{"default request above the default limit", func(q *PodQuota) {
			q.Quantities = append(q.Quantities, Quantity{Path{"default_container_requests", 0, "memory"}, "128Mi"},
				Quantity{Path{"default_container_limits", 0, "memory"}, "64Mi"}, Quantity{Path{"default_container_limits", 0, "cpu"}, "1"})
		}, []expectedFinding{{RuleQuotaInvalidQuantity, "default_container_requests[0].memory",
			`default_container_requests.memory = "128Mi" is above default_container_limits.memory = "64Mi": the API server refuses a LimitRange whose default request exceeds its default limit, so the apply would fail. Lower the request or raise the limit.`}}},
		{"default request equal to the default limit, in other units", func(q *PodQuota) {
			q.Quantities = append(q.Quantities, Quantity{Path{"default_container_limits", 0, "cpu"}, "0.1"})
		}, nil},
		{"kube-system", func(q *PodQuota) { q.Namespace = "kube-system" }, []expectedFinding{{RuleQuotaProtectedNamespace, "namespace",
			`namespace "kube-system" is protected: when a quota there is full, the control plane's own pods (DNS, CNI, proxies) cannot be created either. Leave generous headroom, or quota the teams' namespaces instead.`}}},
		{"values not known until apply are not judged", func(q *PodQuota) {
			q.Pods, q.Jobs, q.NamespaceUnknown, q.Namespace = nil, nil, true, ""
			q.Quantities = []Quantity{{Path{"requests_cpu"}, ""}}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := goodQuota()
			tt.modify(&q)
			expectFindings(t, CheckPodQuota(q, defaultTestSettings), tt.want)
		})
	}
}
