// Package cel renders the rules of provider/guard that can be judged on
// one object as ValidatingAdmissionPolicies, so the API server enforces
// them on whatever creates the object (Helm, kubectl, an operator), with
// the rule ID and the words of the plan-time diagnostic. The meaning stays
// in guard: the expressions here are generated from its tables and message
// formats, and the tests evaluate them with the API server's CEL library
// against guard's verdict on the same objects.
//
// The expressions use only what a 1.30 API server offers (the first
// release with ValidatingAdmissionPolicy GA); Compile checks that.
package cel

import (
	"fmt"
	"slices"
	"strings"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// Guardrail is one rule rendered for the API server: what it matches and
// the validations that judge it.
type Guardrail struct {
	RuleID     string
	Target     string   // names the objects in policy names: "webhooks", "cronjobs", "services", "workloads"
	Group      string   // API group of the matched resources
	Resources  []string // matched resources (never subresources)
	Namespaced bool
	Check      Validation
	// WarnAtMost caps the action at warn: the guardrail cannot see all the
	// rule needs (a Scale has no pod template), so it never denies.
	WarnAtMost bool
}

// Validation is a CEL expression that must hold, and the message (an
// expression) the API server returns when it does not.
type Validation struct {
	Expression, MessageExpression string
}

// Guardrails renders every rule enforced at the API server, in catalogue
// order. Rules that read settings render them as constants.
func Guardrails(s guard.Settings) []Guardrail {
	var out []Guardrail
	for _, r := range guard.Rules() {
		if !r.Enforced.Has(guard.AtAPIServer) {
			continue
		}
		render, ok := renderers[r.ID]
		if !ok {
			panic("cel: rule " + r.ID + " is enforced at the API server but has no renderer")
		}
		gs := []Guardrail{render(s)}
		if scale, ok := scaleRenderers[r.ID]; ok {
			gs = append(gs, scale(s))
		}
		for _, g := range gs {
			g.RuleID = r.ID
			g.Check.MessageExpression = diagnostic(r.ID, "("+g.Check.MessageExpression+")")
			out = append(out, g)
		}
	}
	return out
}

// scaleRenderers render the rules that read replicas a second time, for
// the scale subresource (kubectl scale, autoscalers), which the main
// resource's policy does not see.
var scaleRenderers = map[string]func(guard.Settings) Guardrail{
	guard.RuleWorkloadNoSpread: func(guard.Settings) Guardrail { return scaleNoSpread() },
}

var renderers = map[string]func(guard.Settings) Guardrail{
	guard.RuleWebhookWildcard:         func(guard.Settings) Guardrail { return webhookGuardrail(perRule(ruleWildcard, wildcardMessage)) },
	guard.RuleWebhookCriticalResource: func(guard.Settings) Guardrail { return webhookGuardrail(perRule(ruleCritical, criticalMessage)) },
	guard.RuleWebhookClusterScopedFail: func(guard.Settings) Guardrail {
		return webhookGuardrail(perRule(ruleClusterScopedFail, clusterScopedMessage))
	},
	guard.RuleWebhookFailUnscoped: func(guard.Settings) Guardrail {
		return webhookGuardrail(perHook(failUnscoped, func(w string) string { return format(guard.MsgWebhookFailUnscoped, w+".name") }))
	},
	guard.RuleWebhookTimeout: func(s guard.Settings) Guardrail {
		if s.MaxWebhookTimeoutSeconds <= 0 {
			return webhookGuardrail(Validation{Expression: "true", MessageExpression: lit("")})
		}
		max := fmt.Sprint(s.MaxWebhookTimeoutSeconds)
		bad := func(w string) string { return timeout(w) + " > " + max }
		return webhookGuardrail(perHook(bad, func(w string) string { return format(guard.MsgWebhookTimeout, timeout(w), max) }))
	},
	guard.RuleWebhookSideEffects: func(guard.Settings) Guardrail {
		bad := func(w string) string { return "!(" + sideEffects(w) + ` in ["", "None", "NoneOnDryRun"])` }
		return webhookGuardrail(perHook(bad, func(w string) string { return format(guard.MsgWebhookSideEffects, sideEffects(w)) }))
	},
	guard.RuleWebhookTooLarge: func(guard.Settings) Guardrail {
		return Guardrail{Target: "webhooks", Group: "admissionregistration.k8s.io", Resources: []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"},
			Check: tooLarge()}
	},
	guard.RuleCronJobUnbounded: func(guard.Settings) Guardrail {
		return Guardrail{Target: "cronjobs", Group: "batch", Resources: []string{"cronjobs"}, Namespaced: true, Check: Validation{
			Expression: `object.spec.?concurrencyPolicy.orValue("Allow") != "Allow" || object.spec.?startingDeadlineSeconds.hasValue() || ` +
				`object.spec.?jobTemplate.?spec.?activeDeadlineSeconds.hasValue()`,
			MessageExpression: format(guard.MsgCronJobUnbounded),
		}}
	},
	guard.RuleServiceDashboardPublic: func(guard.Settings) Guardrail { return serviceGuardrail() },
	guard.RuleWorkloadNoSpread:       func(guard.Settings) Guardrail { return workloadGuardrail(noSpread()) },
	guard.RuleWorkloadNoGraceful:     func(guard.Settings) Guardrail { return workloadGuardrail(noGraceful()) },
	guard.RuleWorkloadCPULimit:       func(guard.Settings) Guardrail { return workloadGuardrail(cpuLimit()) },
}

// bind evaluates expr once and names it v inside body: CEL has no let, but
// mapping a one-element list binds its element.
func bind(v, expr, body string) string {
	return fmt.Sprintf("[%s].map(%s, %s)[0]", expr, v, body)
}

// --- webhook configurations -------------------------------------------

// webhookGuardrail judges a webhook rule only on a configuration within
// the bounds of WEBHOOK_TOO_LARGE_TO_JUDGE: beyond them that rule alone
// refuses it, and the others, whose cost grows with the configuration,
// are not evaluated (CEL's || stops at its first true operand).
func webhookGuardrail(v Validation) Guardrail {
	v.Expression = "!" + withinBounds + " || (" + v.Expression + ")"
	return Guardrail{Target: "webhooks", Group: "admissionregistration.k8s.io", Resources: []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"},
		Check: v}
}

// Counts of guard.CheckWebhookConfigurationSize. Each is evaluated in
// withinBounds only once the one before it is within its bound, so
// deciding costs time proportional to the bounds, not to the object.
var (
	ruleCount  = hooks + ".map(w, size(" + rules("w") + ")).sum()"
	entryCount = hooks + ".map(w, size(w.?namespaceSelector.?matchExpressions.orValue([])) + " + rules("w") + ".map(r, size(" + values("r", "apiGroups") +
		") + size(" + values("r", "apiVersions") + ") + size(" + values("r", "resources") + ") + size(" + values("r", "operations") + ")).sum()).sum()"
	withinBounds = fmt.Sprintf("(size(%s) <= %d && %s <= %d && %s <= %d)", hooks, guard.MaxJudgedWebhooks, ruleCount, guard.MaxJudgedWebhookRules,
		entryCount, guard.MaxJudgedRuleEntries)
)

// tooLarge is WEBHOOK_TOO_LARGE_TO_JUDGE. Its message names the first
// count past its bound, as guard does, and so never counts past a bound
// either.
func tooLarge() Validation {
	pick := func(hooksValue, rulesValue, entriesValue string) string {
		return fmt.Sprintf("(size(%s) > %d ? %s : %s > %d ? %s : %s)", hooks, guard.MaxJudgedWebhooks, hooksValue,
			ruleCount, guard.MaxJudgedWebhookRules, rulesValue, entriesValue)
	}
	return Validation{
		Expression: withinBounds,
		MessageExpression: format(guard.MsgWebhookTooLarge,
			pick("size("+hooks+")", ruleCount, entryCount),
			pick(lit(guard.CountWebhooks), lit(guard.CountRules), lit(guard.CountRuleEntries)),
			pick(fmt.Sprint(guard.MaxJudgedWebhooks), fmt.Sprint(guard.MaxJudgedWebhookRules), fmt.Sprint(guard.MaxJudgedRuleEntries))),
	}
}

const hooks = "object.?webhooks.orValue([])"

func rules(w string) string       { return w + ".?rules.orValue([])" }
func values(r, f string) string   { return r + ".?" + f + ".orValue([])" }
func scope(r string) string       { return r + `.?scope.orValue("*")` }
func failing(w string) string     { return w + `.?failurePolicy.orValue("Fail") == "Fail"` }
func timeout(w string) string     { return w + ".?timeoutSeconds.orValue(10)" }
func sideEffects(w string) string { return w + `.?sideEffects.orValue("")` }

// objectSelectorEmpty is guard.Selector.Empty for the object selector.
func objectSelectorEmpty(w string) string {
	return "size(" + w + ".?objectSelector.?matchLabels.orValue({})) == 0 && size(" + w + ".?objectSelector.?matchExpressions.orValue([])) == 0"
}

// perHook is a validation for a rule judged on each webhook: bad(w) must
// hold for none; the message is the first offender's.
func perHook(bad func(w string) string, message func(w string) string) Validation {
	return Validation{
		Expression:        "!" + hooks + ".exists(w, " + bad("w") + ")",
		MessageExpression: bind("w", hooks+".filter(w, "+bad("w")+")[0]", message("w")),
	}
}

// perRule is a validation for a rule judged on each rule of each webhook:
// the message names the first offending rule of the first offending
// webhook by its index, as the plan does.
func perRule(bad func(w, r string) string, message func(w, r, index string) string) Validation {
	return Validation{
		Expression: "!" + hooks + ".exists(w, " + rules("w") + ".exists(r, " + bad("w", "r") + "))",
		MessageExpression: bind("w", hooks+".filter(w, "+rules("w")+".exists(r, "+bad("w", "r")+"))[0]",
			bind("r", rules("w")+".filter(r, "+bad("w", "r")+")[0]",
				message("w", "r", rules("w")+".indexOf(r)"))),
	}
}

// wildValue is guard's wildcard(): "*" or a pattern starting with "*/".
func wildValue(v string) string { return fmt.Sprintf(`(%s == "*" || %s.startsWith("*/"))`, v, v) }

func wildIn(r, f string) string { return values(r, f) + ".exists(v, " + wildValue("v") + ")" }

func ruleWildcard(_, r string) string {
	return wildIn(r, "apiGroups") + " || " + wildIn(r, "resources") + " || " + wildIn(r, "operations")
}

func wildcardMessage(_, r, index string) string {
	first := func(f string) string { return values(r, f) + ".filter(v, " + wildValue("v") + ")[0]" }
	noun := fmt.Sprintf(`(%s ? "API group" : %s ? "resource" : "operation")`, wildIn(r, "apiGroups"), wildIn(r, "resources"))
	value := fmt.Sprintf("(%s ? %s : %s ? %s : %s)", wildIn(r, "apiGroups"), first("apiGroups"), wildIn(r, "resources"), first("resources"), first("operations"))
	return format(guard.MsgWebhookWildcard, index, noun, value)
}

// resourcePatterns are the rule resource entries that reach a resource and
// subresource under the API server's matching: an entry "res/sub" (sub ""
// without a slash) matches when each half is the name or "*"; so
// "leases/*" reaches leases itself, "*" no subresource.
func resourcePatterns(resource, subresource string) []string {
	if subresource == "" {
		return []string{resource, "*", resource + "/*", "*/*", resource + "/", "*/"}
	}
	return []string{resource + "/" + subresource, "*/" + subresource, resource + "/*", "*/*"}
}

// reaches is guard.WebhookRule.Matches for critical resource c in any
// version, but for the operation: scope, group, some version, resource.
func reaches(r string, c guard.CriticalResource) string {
	reachedScope := "Cluster"
	if c.Namespaced {
		reachedScope = "Namespaced"
	}
	return fmt.Sprintf(`(%s in ["*", "", %q] && %s.exists(g, g == "*" || g == %q) && %s.exists(v, v != "") && %s.exists(p, p in %s))`,
		scope(r), reachedScope, values(r, "apiGroups"), c.Group, values(r, "apiVersions"), values(r, "resources"),
		list(resourcePatterns(c.Resource, c.Subresource)))
}

// criticalOps is the list of c's critical operations rule r intercepts.
func criticalOps(r string, c guard.CriticalResource) string {
	return fmt.Sprintf(`(%s ? %s.filter(o, %s.exists(x, x == "*" || x == o)) : [])`, reaches(r, c), list(c.Operations), values(r, "operations"))
}

// ruleCritical first looks for any entry that could reach a critical
// resource (one pass over the rule's resources), and only then works out
// which: most rules name none, and the cost stays linear in their size.
func ruleCritical(_, r string) string {
	var any, patterns []string
	for _, c := range guard.CriticalResources() {
		any = append(any, "size("+criticalOps(r, c)+") > 0")
		for _, p := range resourcePatterns(c.Resource, c.Subresource) {
			if !slices.Contains(patterns, p) {
				patterns = append(patterns, p)
			}
		}
	}
	return "(" + values(r, "resources") + ".exists(p, p in " + list(patterns) + ") && (" + strings.Join(any, " || ") + "))"
}

// criticalMessage lists the matches as guard does: "leases.coordination.k8s.io
// (CREATE, UPDATE), nodes/status (UPDATE)".
func criticalMessage(_, r, index string) string {
	var hits []string
	for _, c := range guard.CriticalResources() {
		hits = append(hits, bind("m", criticalOps(r, c), fmt.Sprintf(`size(m) > 0 ? [%s + " (" + m.join(", ") + ")"] : []`, lit(c.String()))))
	}
	return format(guard.MsgWebhookCriticalResource, index, "("+strings.Join(hits, " + ")+`).join(", ")`)
}

func ruleClusterScopedFail(w, r string) string {
	return fmt.Sprintf(`%s && %s in ["*", "Cluster"] && %s && size(%s.?matchConditions.orValue([])) == 0`,
		failing(w), scope(r), objectSelectorEmpty(w), w)
}

func clusterScopedMessage(_, r, index string) string {
	return format(guard.MsgWebhookClusterScopedFail, index, scope(r))
}

// failUnscoped is WEBHOOK_FAIL_UNSCOPED: failing, no opt-in namespace
// selector (guard.Selector.OptIn) and no object selector.
func failUnscoped(w string) string {
	ns := w + ".?namespaceSelector"
	optIn := "size(" + ns + ".?matchLabels.orValue({})) > 0 || " + ns + `.?matchExpressions.orValue([]).exists(e, e.operator == "In" || e.operator == "Exists" && e.key != ` + lit(guard.NamespaceNameLabel) + ")"
	return failing(w) + " && !(" + optIn + ") && " + objectSelectorEmpty(w)
}

// --- Services -----------------------------------------------------------

func serviceGuardrail() Guardrail {
	const typ = `object.spec.?type.orValue("ClusterIP")`
	const selector = "object.spec.?selector.orValue({})"
	const ports = "object.spec.?ports.orValue([])"
	names := list(guard.DashboardNames)
	port := fmt.Sprint(guard.DashboardPort)
	const ranges = "object.spec.?loadBalancerSourceRanges.orValue([])"
	open := fmt.Sprintf(`(size(%s) == 0 || %s.exists(r, r.trim().matches(%s)))`, ranges, ranges, lit(guard.OpenSourceRangePattern))
	// guard's opensNodePorts; the API server defaults the field to true
	// for a LoadBalancer, and an explicit nodePort is opened either way.
	nodePorts := fmt.Sprintf(`(object.spec.?allocateLoadBalancerNodePorts.orValue(true) || %s.exists(p, p.?nodePort.orValue(0) != 0))`, ports)
	exposed := fmt.Sprintf(`(%s == "NodePort" || %s == "LoadBalancer" && (%s || %s))`, typ, typ, open, nodePorts)
	bySelector := fmt.Sprintf("%s.exists(k, %s[k] in %s)", selector, selector, names)
	dashPort := fmt.Sprintf(`(p.port == %s || p.?targetPort.orValue("") == %s || p.?name.orValue("").contains(%q) || string(p.?targetPort.orValue("")).contains(%q))`,
		port, port, guard.DashboardPortName, guard.DashboardPortName)
	byPort := ports + ".exists(p, " + dashPort + ")"
	key := selector + ".filter(k, " + selector + "[k] in " + names + ").min()"
	evidence := fmt.Sprintf(`(%s ? %s : "port " + string(%s.filter(p, %s)[0].port))`,
		bySelector, bind("k", key, `"selector " + k + "=" + `+selector+"[k]"), ports, dashPort)
	reach := fmt.Sprintf(`(%s == "NodePort" ? %s : %s ? %s : %s)`, typ, lit(guard.ReachNodePort), open, lit(guard.ReachLoadBalancer), lit(guard.ReachLoadBalancerNodePorts))
	return Guardrail{Target: "services", Group: "", Resources: []string{"services"}, Namespaced: true, Check: Validation{
		Expression:        fmt.Sprintf("!(%s && (%s || %s))", exposed, bySelector, byPort),
		MessageExpression: format(guard.MsgServiceDashboardExposed, typ, evidence, reach),
	}}
}

// --- the scale subresource of Deployments and StatefulSets -------------

// scaleNoSpread is guard.CheckScale. On deployments/scale and
// statefulsets/scale the API server gives a policy an autoscaling/v1
// Scale as object and oldObject (spec.replicas, status.replicas and
// status.selector, and no labels or annotations), and names the workload
// in request.resource.
func scaleNoSpread() Guardrail {
	from, to := "oldObject.spec.?replicas.orValue(0)", "object.spec.?replicas.orValue(0)"
	min := fmt.Sprint(guard.SpreadMinReplicas)
	kind := `(request.resource.resource == "deployments" ? "Deployment" : "StatefulSet")`
	return Guardrail{Target: "scales", Group: "apps", Resources: []string{"deployments/scale", "statefulsets/scale"}, Namespaced: true, WarnAtMost: true,
		Check: Validation{
			Expression:        fmt.Sprintf(`!(request.operation == "UPDATE" && %s < %s && %s >= %s)`, from, min, to, min),
			MessageExpression: format(guard.MsgWorkloadScaledUnseen, kind, from, to, kind),
		}}
}

// --- Deployments and StatefulSets ---------------------------------------

func workloadGuardrail(v Validation) Guardrail {
	return Guardrail{Target: "workloads", Group: "apps", Resources: []string{"deployments", "statefulsets"}, Namespaced: true, Check: v}
}

const (
	podSpec    = "object.spec.template.spec"
	containers = podSpec + ".?containers.orValue([])"
)

func noSpread() Validation {
	replicas := "object.spec.?replicas.orValue(1)"
	anti := podSpec + ".?affinity.?podAntiAffinity"
	spread := "size(" + anti + ".?requiredDuringSchedulingIgnoredDuringExecution.orValue([])) + size(" + anti +
		".?preferredDuringSchedulingIgnoredDuringExecution.orValue([])) + size(" + podSpec + ".?topologySpreadConstraints.orValue([])) > 0"
	return Validation{
		Expression:        replicas + " < 2 || " + spread,
		MessageExpression: format(guard.MsgWorkloadNoSpread, "object.kind", replicas),
	}
}

func noGraceful() Validation {
	grace := fmt.Sprintf("%s.?terminationGracePeriodSeconds.orValue(%d)", podSpec, guard.DefaultTerminationGracePeriodSeconds)
	sleep := func(c string) string { return c + ".?lifecycle.?preStop.?sleep.?seconds" }
	bad := func(c string) string {
		return fmt.Sprintf("size(%s.?ports.orValue([])) > 0 && (!%s.?lifecycle.?preStop.hasValue() || %s.hasValue() && %s.value() >= %s)",
			c, c, sleep(c), sleep(c), grace)
	}
	return Validation{
		Expression: "!" + containers + ".exists(c, " + bad("c") + ")",
		MessageExpression: bind("c", containers+".filter(c, "+bad("c")+")[0]",
			fmt.Sprintf("%s.?lifecycle.?preStop.hasValue() ? %s : %s", "c",
				format(guard.MsgWorkloadGraceTooShort, "c.name", sleep("c")+".value()", grace),
				format(guard.MsgWorkloadNoPreStop, "c.name"))),
	}
}

func cpuLimit() Validation {
	limit := func(c string) string { return c + ".?resources.?limits.?cpu" }
	return Validation{
		Expression: "!" + containers + ".exists(c, " + limit("c") + ".hasValue())",
		MessageExpression: bind("c", containers+".filter(c, "+limit("c")+".hasValue())[0]",
			format(guard.MsgWorkloadCPULimit, "c.name", "string("+limit("c")+".value())")),
	}
}
