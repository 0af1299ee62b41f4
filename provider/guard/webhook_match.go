package guard

import (
	"slices"
	"strings"
)

// How the API server decides that a webhook rule matches a request, and
// which requests the control plane cannot do without. The matcher mirrors
// k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules
// (Matcher.Matches) and the exempt list its IsExemptAdmissionConfigurationResource;
// test/differential checks both against that package over generated rules.

// AdmissionRequest is one request the API server admits, as a webhook
// rule sees it.
type AdmissionRequest struct {
	Group       string // API group, "" for the core group
	Version     string // API version; "" asks about every version (see WebhookRule.Matches)
	Resource    string // plural, lower case: "leases"
	Subresource string // "" for the resource itself: "status"
	Operation   string // CREATE, UPDATE, DELETE or CONNECT
	// Namespaced is true when the request carries a namespace. Requests for
	// namespaces themselves count as cluster-scoped, as in the API server.
	Namespaced bool
}

// Matches reports whether the API server would send req to a webhook with
// rule r. It is Matcher.Matches of the API server, part by part:
//
//   - scope: "*" or "" (the API's unset scope) matches every request,
//     "Namespaced" only requests with a namespace, "Cluster" only requests
//     without one; any other value matches nothing.
//   - operations: "*" or the request's operation.
//   - API groups: "*" or the request's group.
//   - API versions: "*" or the request's version. With req.Version "" the
//     question is "in any version", which is what a hook with matchPolicy
//     Equivalent (the default) sees: the API server retries the rule with
//     every version of the resource it serves, so any non-empty version
//     entry can match.
//   - resources: each entry is "resource" or "resource/subresource"; each
//     half is a name or "*". So "leases" matches leases but none of its
//     subresources, "*" every resource but no subresource, "leases/*"
//     leases itself AND all its subresources (the subresource "" matches
//     "*"), "*/status" every status subresource, "*/*" everything.
//
// Equivalent also spans API groups for resources served from one storage
// (core "events" and "events.k8s.io" events): callers that ask about such a
// resource ask about each of its groups (CriticalResources lists both).
func (r WebhookRule) Matches(req AdmissionRequest) bool {
	return r.scopeMatches(req) &&
		exactOrWildcard(r.Operations, req.Operation) &&
		exactOrWildcard(r.APIGroups, req.Group) &&
		r.versionMatches(req.Version) &&
		r.resourceMatches(req.Resource, req.Subresource)
}

func exactOrWildcard(items []string, requested string) bool {
	return slices.ContainsFunc(items, func(item string) bool { return item == "*" || item == requested })
}

func (r WebhookRule) scopeMatches(req AdmissionRequest) bool {
	switch r.Scope {
	case "", "*":
		return true
	case "Namespaced":
		return req.Namespaced
	case "Cluster":
		return !req.Namespaced
	default:
		return false
	}
}

func (r WebhookRule) versionMatches(version string) bool {
	if version != "" {
		return exactOrWildcard(r.APIVersions, version)
	}
	// Any version: an entry that names a version (or "*") matches one.
	return slices.ContainsFunc(r.APIVersions, func(v string) bool { return v != "" })
}

func (r WebhookRule) resourceMatches(resource, subresource string) bool {
	for _, pattern := range r.Resources {
		res, sub, _ := strings.Cut(pattern, "/")
		if (res == "*" || res == resource) && (sub == "*" || sub == subresource) {
			return true
		}
	}
	return false
}

// CriticalResource is a request the control plane makes to stay alive: a
// webhook that intercepts it and whose backend is down (or slow) stalls
// node heartbeats, leader election, authentication or certificates for the
// whole cluster. WEBHOOK_CRITICAL_RESOURCE refuses every rule that matches
// (WebhookRule.Matches, in any version) one of its Operations on it.
type CriticalResource struct {
	Group       string   // API group, "" for the core group
	Resource    string   // plural resource name
	Subresource string   // "" for the resource itself
	Namespaced  bool     // requests carry a namespace (rule scope "Namespaced" reaches them, "Cluster" does not)
	Operations  []string // the admission operations through which a hook breaks the cluster
	Reason      string   // who makes these requests and what stops when they fail
}

// String names the resource as kubectl does, with the subresource after a
// slash: "leases.coordination.k8s.io", "nodes/status",
// "certificatesigningrequests.certificates.k8s.io/approval".
func (c CriticalResource) String() string {
	s := c.Resource
	if c.Group != "" {
		s += "." + c.Group
	}
	if c.Subresource != "" {
		s += "/" + c.Subresource
	}
	return s
}

var (
	createOnly      = []string{"CREATE"}
	updateOnly      = []string{"UPDATE"}
	createAndUpdate = []string{"CREATE", "UPDATE"}
)

// criticalResources: PATCH reaches admission as UPDATE, so UPDATE covers
// both. DELETE is in no entry: the control plane's deletes of these (stale
// leases, old CSRs) can wait. The admission configuration resources are
// not here: the API server never calls webhooks for them (see
// ExemptAdmissionResources).
var criticalResources = []CriticalResource{
	{Group: "coordination.k8s.io", Resource: "leases", Namespaced: true, Operations: createAndUpdate,
		Reason: "kubelets renew their node lease every 10 s (kube-node-lease) and controllers, schedulers and API servers hold leader-election and identity leases (kube-system)"},
	{Resource: "nodes", Subresource: "status", Operations: updateOnly,
		Reason: "kubelets report node status; without it nodes turn NotReady and their pods are evicted (the Jetstack outage's node-repair loop)"},
	{Resource: "events", Namespaced: true, Operations: createAndUpdate,
		Reason: "every component records events (a repeated event is an update); stalled writes back up their recorders"},
	{Group: "events.k8s.io", Resource: "events", Namespaced: true, Operations: createAndUpdate,
		Reason: "the same events through the events.k8s.io API (one storage: a rule on either group intercepts both)"},
	{Group: "authentication.k8s.io", Resource: "tokenreviews", Operations: createOnly,
		Reason: "kubelets and aggregated API servers authenticate every request they serve with a TokenReview"},
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Operations: createOnly,
		Reason: "kubelets and aggregated API servers authorize every request they serve with a SubjectAccessReview"},
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews", Namespaced: true, Operations: createOnly,
		Reason: "the namespaced form of the same authorization check"},
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews", Operations: createOnly,
		Reason: "controllers and operators check their own permissions before acting"},
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews", Operations: createOnly,
		Reason: "clients list their own permissions"},
	{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Operations: createOnly,
		Reason: "kubelets request their client and serving certificates at bootstrap and on every rotation"},
	{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Subresource: "approval", Operations: updateOnly,
		Reason: "the controller manager approves kubelets' certificate requests"},
	{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Subresource: "status", Operations: updateOnly,
		Reason: "the controller manager's signer writes the issued certificate; without it kubelets lose their credentials when the old ones expire"},
}

// CriticalResources returns the requests WEBHOOK_CRITICAL_RESOURCE keeps
// webhooks away from (a copy: callers may change it). The
// ValidatingAdmissionPolicy guardrails are generated from this table, with
// WebhookRule.Matches' semantics.
func CriticalResources() []CriticalResource {
	out := slices.Clone(criticalResources)
	for i := range out {
		out[i].Operations = slices.Clone(out[i].Operations)
	}
	return out
}

// CriticalMatch is a critical resource a rule intercepts, with the
// critical operations it intercepts on it.
type CriticalMatch struct {
	Resource   CriticalResource
	Operations []string
}

// CriticalMatches lists, in table order, the critical resources rule r
// intercepts in any version, each with the operations through which it
// does.
func CriticalMatches(r WebhookRule) []CriticalMatch {
	var out []CriticalMatch
	for _, c := range criticalResources {
		var ops []string
		for _, op := range c.Operations {
			req := AdmissionRequest{Group: c.Group, Resource: c.Resource, Subresource: c.Subresource, Operation: op, Namespaced: c.Namespaced}
			if r.Matches(req) {
				ops = append(ops, op)
			}
		}
		if len(ops) > 0 {
			out = append(out, CriticalMatch{Resource: c, Operations: ops})
		}
	}
	return out
}

// AdmissionRegistrationGroup is the API group of webhook configurations
// and admission policies.
const AdmissionRegistrationGroup = "admissionregistration.k8s.io"

// exemptAdmissionResources are the resources of AdmissionRegistrationGroup
// whose requests (subresources included) the API server never sends to a
// webhook registered through the API, so that no webhook can lock the
// cluster's admission configuration itself (IsExemptAdmissionConfigurationResource).
var exemptAdmissionResources = []string{
	"validatingwebhookconfigurations",
	"mutatingwebhookconfigurations",
	"validatingadmissionpolicies",
	"validatingadmissionpolicybindings",
	"mutatingadmissionpolicies",
	"mutatingadmissionpolicybindings",
}

// ExemptAdmissionResources returns the resources of
// AdmissionRegistrationGroup the API server never calls webhooks for.
func ExemptAdmissionResources() []string { return slices.Clone(exemptAdmissionResources) }

// IsExemptAdmissionResource reports whether the API server never calls
// webhooks for requests to resource (any subresource) in group.
func IsExemptAdmissionResource(group, resource string) bool {
	return group == AdmissionRegistrationGroup && slices.Contains(exemptAdmissionResources, resource)
}

// exemptNamed lists the exempt resources ("validatingwebhookconfigurations.admissionregistration.k8s.io")
// rule r names explicitly (a
// resource entry whose resource half is their name, in a group the rule
// matches). Wildcard entries are WEBHOOK_WILDCARD_RULE's business.
func exemptNamed(r WebhookRule) []string {
	if !exactOrWildcard(r.APIGroups, AdmissionRegistrationGroup) {
		return nil
	}
	var out []string
	for _, pattern := range r.Resources {
		res, _, _ := strings.Cut(pattern, "/")
		name := res + "." + AdmissionRegistrationGroup
		if IsExemptAdmissionResource(AdmissionRegistrationGroup, res) && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}
