package guard

import "testing"

func seconds(v int64) *int64 { return &v }

const cronJobMessage = `concurrencyPolicy is Allow (the default) with neither spec.startingDeadlineSeconds nor spec.jobTemplate.spec.activeDeadlineSeconds: ` +
	`runs that never finish overlap and pile up pods until the API server and etcd fall over. Set concurrencyPolicy Forbid or Replace in ` +
	`the CronJob spec (not in the pod template, where it is silently dropped), or bound each run with activeDeadlineSeconds.`

func TestCronJobRule(t *testing.T) {
	tests := []struct {
		name string
		c    CronJob
		want []expectedFinding
	}{
		{"Zalando's manifest: policy misplaced, so the default Allow, no deadline", CronJob{}, []expectedFinding{{RuleCronJobUnbounded, "spec.concurrencyPolicy", cronJobMessage}}},
		{"explicit Allow, no deadline", CronJob{ConcurrencyPolicy: "Allow"}, []expectedFinding{{RuleCronJobUnbounded, "spec.concurrencyPolicy", cronJobMessage}}},
		{"the fixed manifest: activeDeadlineSeconds 120", CronJob{ActiveDeadlineSeconds: seconds(120)}, nil},
		{"Allow with a starting deadline", CronJob{ConcurrencyPolicy: "Allow", StartingDeadlineSeconds: seconds(60)}, nil},
		{"Forbid", CronJob{ConcurrencyPolicy: "Forbid"}, nil},
		{"Replace", CronJob{ConcurrencyPolicy: "Replace"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectFindings(t, CheckCronJob(tt.c), tt.want) })
	}
}

func TestServiceDashboardRule(t *testing.T) {
	const tail = `: an open Weave Scope let attackers run a cryptominer as root on the nodes. Use type LoadBalancer with loadBalancerSourceRanges for the admin network and allocateLoadBalancerNodePorts false, or ClusterIP and kubectl port-forward.`
	scope := map[string]string{"app": "weave-scope", "name": "weave-scope-app", "weave-scope-component": "app"}
	web := []ServicePort{{Name: "http", Port: 80, TargetPort: "4040"}}
	yes, no := true, false
	tests := []struct {
		name string
		s    Service
		want []expectedFinding
	}{
		{"Weave Scope on a public load balancer", Service{Type: "LoadBalancer", Selector: scope, Ports: []ServicePort{{Name: "app", Port: 80, TargetPort: "http"}}},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `LoadBalancer Service exposes a dashboard (selector app=weave-scope) to anyone who can reach the load balancer` + tail}}},
		{"Weave Scope on a node port", Service{Type: "NodePort", Selector: scope},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `NodePort Service exposes a dashboard (selector app=weave-scope) to anyone who can reach any node's address` + tail}}},
		{"NodePort with source ranges is still open (they apply to load balancers only)", Service{Type: "NodePort", Selector: scope, LoadBalancerSourceRanges: []string{"10.0.0.0/8"}},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `NodePort Service exposes a dashboard (selector app=weave-scope) to anyone who can reach any node's address` + tail}}},
		{"restricted to the admin network, node ports open (the API's default)", Service{Type: "LoadBalancer", Selector: scope, LoadBalancerSourceRanges: []string{"10.0.0.0/8"}},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `LoadBalancer Service exposes a dashboard (selector app=weave-scope) to anyone who can reach ` +
				`any node's address on its node ports (loadBalancerSourceRanges restrict only the load balancer)` + tail}}},
		{"restricted to the admin network, node ports allocated", Service{Type: "LoadBalancer", Selector: scope, LoadBalancerSourceRanges: []string{"10.0.0.0/8"},
			AllocateLoadBalancerNodePorts: &yes},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `LoadBalancer Service exposes a dashboard (selector app=weave-scope) to anyone who can reach ` +
				`any node's address on its node ports (loadBalancerSourceRanges restrict only the load balancer)` + tail}}},
		{"restricted to the admin network, no node ports", Service{Type: "LoadBalancer", Selector: scope, LoadBalancerSourceRanges: []string{"10.0.0.0/8"},
			AllocateLoadBalancerNodePorts: &no, Ports: []ServicePort{{Name: "app", Port: 80, TargetPort: "4040"}}}, nil},
		{"restricted to the admin network, no node ports but one set explicitly", Service{Type: "LoadBalancer", Selector: scope, LoadBalancerSourceRanges: []string{"10.0.0.0/8"},
			AllocateLoadBalancerNodePorts: &no, Ports: []ServicePort{{Name: "app", Port: 80, TargetPort: "4040", NodePort: 30440}}},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `LoadBalancer Service exposes a dashboard (selector app=weave-scope) to anyone who can reach ` +
				`any node's address on its node ports (loadBalancerSourceRanges restrict only the load balancer)` + tail}}},
		{"open load balancer without node ports", Service{Type: "LoadBalancer", Selector: scope, AllocateLoadBalancerNodePorts: &no},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `LoadBalancer Service exposes a dashboard (selector app=weave-scope) to anyone who can reach the load balancer` + tail}}},
		{"a source range of everywhere restricts nothing", Service{Type: "LoadBalancer", Selector: scope, LoadBalancerSourceRanges: []string{"10.0.0.0/8", "::/0"}},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `LoadBalancer Service exposes a dashboard (selector app=weave-scope) to anyone who can reach the load balancer` + tail}}},
		{"ClusterIP", Service{Type: "ClusterIP", Selector: scope}, nil},
		{"an unknown app on port 4040", Service{Type: "LoadBalancer", Selector: map[string]string{"app": "shop"}, Ports: web},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `LoadBalancer Service exposes a dashboard (port 80) to anyone who can reach the load balancer` + tail}}},
		{"a port named dashboard", Service{Type: "LoadBalancer", Ports: []ServicePort{{Name: "http", Port: 443}, {Name: "k8s-dashboard", Port: 8443}}},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `LoadBalancer Service exposes a dashboard (port 8443) to anyone who can reach the load balancer` + tail}}},
		{"selector key order decides the evidence", Service{Type: "LoadBalancer", Selector: map[string]string{"z": "grafana", "b": "kibana"}},
			[]expectedFinding{{RuleServiceDashboardPublic, "spec.type", `LoadBalancer Service exposes a dashboard (selector b=kibana) to anyone who can reach the load balancer` + tail}}},
		{"a shop on a load balancer", Service{Type: "LoadBalancer", Selector: map[string]string{"app": "shop"}, Ports: []ServicePort{{Port: 443, TargetPort: "8443"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectFindings(t, CheckService(tt.s), tt.want) })
	}
}

func TestWorkloadRules(t *testing.T) {
	good := func() Workload {
		return Workload{Kind: "Deployment", Replicas: seconds(3), TopologySpreadConstraints: 1,
			Containers: []Container{{Name: "web", Ports: 1, PreStop: &PreStop{SleepSeconds: seconds(10)}}, {Name: "sidecar"}}}
	}
	const noSpread = `Deployment with 3 replicas has neither pod anti-affinity nor topologySpreadConstraints: the scheduler may put every replica on one node, and one node failure takes them all down. Add a topologySpreadConstraint on kubernetes.io/hostname, or pod anti-affinity.`
	tests := []struct {
		name   string
		modify func(w *Workload)
		want   []expectedFinding
	}{
		{"spread, preStop, no CPU limit", func(*Workload) {}, nil},
		{"Moonlight: three replicas, no spread", func(w *Workload) { w.TopologySpreadConstraints = 0 },
			[]expectedFinding{{RuleWorkloadNoSpread, "spec.template.spec", noSpread}}},
		{"anti-affinity spreads", func(w *Workload) { w.TopologySpreadConstraints = 0; w.PodAntiAffinity = true }, nil},
		{"one replica (the default) needs no spread", func(w *Workload) { w.TopologySpreadConstraints = 0; w.Replicas = nil }, nil},
		{"StatefulSet of two", func(w *Workload) { w.Kind = "StatefulSet"; w.TopologySpreadConstraints = 0; w.Replicas = seconds(2) },
			[]expectedFinding{{RuleWorkloadNoSpread, "spec.template.spec", `StatefulSet with 2 replicas has neither pod anti-affinity nor topologySpreadConstraints: the scheduler may put every replica on one node, and one node failure takes them all down. Add a topologySpreadConstraint on kubernetes.io/hostname, or pod anti-affinity.`}}},
		{"Ravelin: a serving container without preStop", func(w *Workload) { w.Containers[0].PreStop = nil },
			[]expectedFinding{{RuleWorkloadNoGraceful, "spec.template.spec.containers", `container "web" serves a port but has no preStop hook: on rollout or scale-down it gets SIGTERM while the load balancer still sends it traffic, and clients get 502s. Add a preStop sleep longer than the load balancer takes to deregister it.`}}},
		{"preStop sleep as long as the default grace period", func(w *Workload) { w.Containers[0].PreStop.SleepSeconds = seconds(30) },
			[]expectedFinding{{RuleWorkloadNoGraceful, "spec.template.spec.terminationGracePeriodSeconds", `container "web" sleeps 30s in preStop but terminationGracePeriodSeconds is 30: the kubelet kills it before it has drained. Make terminationGracePeriodSeconds longer than the preStop sleep.`}}},
		{"longer grace period", func(w *Workload) {
			w.Containers[0].PreStop.SleepSeconds = seconds(30)
			w.TerminationGracePeriodSeconds = seconds(45)
		}, nil},
		{"an exec preStop has no length to compare", func(w *Workload) { w.Containers[0].PreStop = &PreStop{}; w.TerminationGracePeriodSeconds = seconds(1) }, nil},
		{"a container with no port has nothing to drain", func(w *Workload) { w.Containers = w.Containers[1:] }, nil},
		{"Buffer: a CPU limit on the second container", func(w *Workload) { w.Containers[1].CPULimit = "500m" },
			[]expectedFinding{{RuleWorkloadCPULimit, "spec.template.spec.containers", `container "sidecar" sets a CPU limit (500m): the CFS quota throttles it even when the node has idle CPU, which shows up as latency. Set a CPU request and leave the limit out.`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := good()
			tt.modify(&w)
			expectFindings(t, CheckWorkload(w), tt.want)
		})
	}
}

func TestNamespaceQuotaRule(t *testing.T) {
	expectFindings(t, CheckNamespaceQuota("team-a", false, defaultTestSettings), []expectedFinding{{RuleQuotaMissingPods, "spec.hard.pods",
		`namespace "team-a" has no ResourceQuota with a pods limit: a runaway CronJob or controller there can create pods until the API server and etcd fall over. Cap it with a k8sguard_pod_quota.`}})
	expectFindings(t, CheckNamespaceQuota("team-a", true, defaultTestSettings), nil)
	expectFindings(t, CheckNamespaceQuota("kube-system", false, defaultTestSettings), nil)
}

func TestWaiverAnnotations(t *testing.T) {
	ann := map[string]string{
		WaiverAnnotationPrefix + RuleWorkloadCPULimit:        "batch job, throughput over latency",
		WaiverAnnotationPrefix + RuleWorkloadNoSpread:        "  ",
		WaiverAnnotationPrefix + RuleWebhookCriticalResource: "we know",
		"other": "x",
	}
	for id, want := range map[string]bool{
		RuleWorkloadCPULimit:        true,
		RuleWorkloadNoSpread:        false, // no reason
		RuleWebhookCriticalResource: false, // not waivable
		RuleCronJobUnbounded:        false, // no annotation
	} {
		if got := WaivedByAnnotation(id, ann); got != want {
			t.Errorf("WaivedByAnnotation(%s) = %v, want %v", id, got, want)
		}
	}
	if got := AnnotationWaivers(ann); len(got) != 3 || got[RuleWorkloadCPULimit] == "" {
		t.Fatalf("AnnotationWaivers = %v", got)
	}
}
