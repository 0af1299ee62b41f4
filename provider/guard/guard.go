// Package guard holds k8sguard's rules as plain Go over plain structs: no
// Terraform types, no API clients. Each rule family lives in its own file
// with a table test beside it; the provider maps schemas to these inputs and
// the findings back to diagnostics on the right attribute.
package guard

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Severity of a finding: errors stop the plan, warnings are shown and kept.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Story is the public failure a rule answers.
type Story struct {
	Name string // "OPA webhook outage (Jetstack, GKE upgrade)"
	URL  string
}

// Rule is one guarantee with a stable ID.
type Rule struct {
	ID       string
	Family   string // "webhook", "quota", "pool", "instance", "bucket", "general"
	Severity Severity
	Waivable bool
	Checks   string // one line: what the rule checks, for the rules table
	Story    Story
	// UsesSettings marks rules that read the provider's Settings. They run
	// only at plan: during `terraform validate` the provider is not
	// configured, so its settings are not known yet.
	UsesSettings bool
	// Enforced says where the rule holds; zero means at plan only. The
	// guardrails (guard/cel) and the audit test that they cover exactly
	// the rules that say so.
	Enforced Place
}

// Place is a set of the places a rule is enforced.
type Place uint8

const (
	AtPlan      Place = 1 << iota // a k8sguard resource refuses it at terraform plan
	AtAPIServer                   // k8sguard_admission_guardrails: a ValidatingAdmissionPolicy in the API server
	AtAudit                       // the k8sguard_cluster_audit data source reports live objects
	AtApply                       // a k8sguard resource refuses it at terraform apply (it needs the live cluster)
)

// Has reports whether p includes q.
func (p Place) Has(q Place) bool { return p&q != 0 }

// Names lists the places, in the order plan, apply, API server, audit.
func (p Place) Names() []string {
	var out []string
	for _, n := range []struct {
		q    Place
		name string
	}{{AtPlan, "plan"}, {AtApply, "apply"}, {AtAPIServer, "API server"}, {AtAudit, "audit"}} {
		if p.Has(n.q) {
			out = append(out, n.name)
		}
	}
	return out
}

// Path locates an attribute: strings are attribute names, ints list
// indexes, MapKeys map keys; Path{"webhook", 0, "rule", 1, "resources"}.
type Path []any

// MapKey is a path step into a map attribute.
type MapKey string

func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch v := s.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		case MapKey:
			fmt.Fprintf(&b, "[%q]", string(v))
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

// Finding is one rule firing on one attribute.
type Finding struct {
	RuleID   string
	Severity Severity
	Path     Path
	Message  string // what is wrong, why it is dangerous, what to do
	Story    string // the story's name
	// WaiverReason is set when a waiver turned an error into a warning.
	WaiverReason string
}

// String is the diagnostic text:
// "[RULE_ID] message Prevents: story." plus the waiver when there is one.
func (f Finding) String() string {
	s := Diagnostic(f.RuleID, f.Message, f.Story)
	if f.WaiverReason != "" {
		s += fmt.Sprintf(" Waived: %q.", f.WaiverReason)
	}
	return s
}

// Diagnostic is "[RULE_ID] message Prevents: story.", the text every
// place a rule is enforced shows (plan, API server, audit).
func Diagnostic(id, message, story string) string {
	s := fmt.Sprintf("[%s] %s", id, message)
	if story != "" {
		s += " Prevents: " + story + "."
	}
	return s
}

var catalog = map[string]Rule{}

// register adds rules to the catalog; each family file calls it from a var
// initialiser so the catalog is complete before any check runs.
func register(rules ...Rule) bool {
	for _, r := range rules {
		if _, dup := catalog[r.ID]; dup {
			panic("guard: duplicate rule " + r.ID)
		}
		if r.Enforced == 0 {
			r.Enforced = AtPlan
		}
		catalog[r.ID] = r
	}
	return true
}

// Rules returns every rule, sorted by family then ID (the rules table).
func Rules() []Rule {
	out := make([]Rule, 0, len(catalog))
	for _, r := range catalog {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Family != out[j].Family {
			return out[i].Family < out[j].Family
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Lookup returns a rule by ID.
func Lookup(id string) (Rule, bool) {
	r, ok := catalog[id]
	return r, ok
}

// finding builds a Finding for rule id with the rule's severity and story.
func finding(id string, p Path, format string, args ...any) Finding {
	r, ok := catalog[id]
	if !ok {
		panic("guard: unregistered rule " + id)
	}
	return Finding{RuleID: id, Severity: r.Severity, Path: p, Message: fmt.Sprintf(format, args...), Story: r.Story.Name}
}

// Rule ID for problems with the waivers map itself.
const RuleWaiverInvalid = "WAIVER_INVALID"

var _ = register(Rule{
	ID: RuleWaiverInvalid, Family: "general", Severity: Error, Waivable: false,
	Checks: "every waiver names a known, waivable rule and gives a written reason",
	Story:  Story{Name: "unreviewed exceptions (every story above)"},
})

// ApplyWaivers turns waived errors into warnings that keep the reason, and
// adds WAIVER_INVALID errors for waivers without a reason or for rules that
// do not exist or cannot be waived. pending are waivers whose reason is not
// known yet: only their rule IDs are checked. waiversAttr is the attribute
// name of the waivers map in the resource ("waivers").
func ApplyWaivers(findings []Finding, waivers map[string]string, pending []string, waiversAttr string) []Finding {
	var out []Finding
	ids := make([]string, 0, len(waivers)+len(pending))
	for id := range waivers {
		ids = append(ids, id)
	}
	ids = append(ids, pending...)
	sort.Strings(ids)
	valid := map[string]string{}
	for _, id := range ids {
		reason := strings.TrimSpace(waivers[id])
		p := Path{waiversAttr, MapKey(id)}
		r, known := catalog[id]
		switch {
		case !known:
			out = append(out, finding(RuleWaiverInvalid, p, "waiver for %q: no such rule. Rule IDs are listed in the k8sguard rules guide.", id))
		case !r.Waivable:
			out = append(out, finding(RuleWaiverInvalid, p, "waiver for %s: this rule cannot be waived (it guards against %s). Change the configuration instead.", id, r.Story.Name))
		case slices.Contains(pending, id):
			// the reason is checked once it is known
		case reason == "":
			out = append(out, finding(RuleWaiverInvalid, p, "waiver for %s has no reason: write why the risk is acceptable, for the review.", id))
		default:
			valid[id] = reason
		}
	}
	for _, f := range findings {
		if reason, ok := valid[f.RuleID]; ok && f.Severity == Error {
			f.Severity = Warning
			f.WaiverReason = reason
		}
		out = append(out, f)
	}
	return out
}

// WithoutWaivableErrors drops the errors a waiver could turn into
// warnings: what a plan can report while the waivers are not known.
func WithoutWaivableErrors(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if r, ok := catalog[f.RuleID]; ok && r.Waivable && f.Severity == Error {
			continue
		}
		out = append(out, f)
	}
	return out
}

// WithoutErrorsOf drops the errors of the waivable rules among ids: those
// a waiver whose reason is not known yet may waive.
func WithoutErrorsOf(fs []Finding, ids []string) []Finding {
	var out []Finding
	for _, f := range fs {
		if r, ok := catalog[f.RuleID]; ok && r.Waivable && f.Severity == Error && slices.Contains(ids, f.RuleID) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// WithoutSettingsRules drops the findings of rules that read the provider's
// settings: what a resource reports at `terraform validate`, before the
// provider is configured (the checks ran with zero Settings).
func WithoutSettingsRules(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if r, ok := catalog[f.RuleID]; ok && r.UsesSettings {
			continue
		}
		out = append(out, f)
	}
	return out
}

// HasErrors reports whether any finding is an error.
func HasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

// Settings are the provider-wide policy knobs the rules read.
type Settings struct {
	ProtectedNamespaces        []string
	MaxWebhookTimeoutSeconds   int64
	AllowBurstableControlPlane bool
	MaxPodsPerNamespace        int64
	// Unknown is set while a knob is not known (another resource's output,
	// during plan): the others hold their defaults, so the rules that read
	// settings wait for apply (see WithoutSettingsRules).
	Unknown bool
}
