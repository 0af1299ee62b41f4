// Command gendocs writes docs/guides/rules.md, the table of every rule in
// provider/guard. `make docs` runs it after tfplugindocs (which cleans
// docs/ first), so the table is generated from the code, never by hand.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/k8sguard/k8sguard/provider/guard"
)

func main() {
	out := filepath.Join("docs", "guides", "rules.md")
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(out, []byte(render(guard.Rules())+renderCritical(guard.CriticalResources())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func render(rules []guard.Rule) string {
	var b strings.Builder
	b.WriteString(`---
page_title: "Rules - k8sguard"
subcategory: ""
description: |-
  Every rule k8sguard checks, where it is enforced (plan, API server, audit), and the public failure story it prevents.
---

# Rules

Every guarded resource runs these rules at ` + "`terraform validate`/`terraform plan`" + `. An **error** stops
the plan; a **warning** is shown and kept in the resource's ` + "`findings`" + ` attribute. A waivable
error can be accepted per resource with a written reason, which is kept in state for review:

` + "```hcl" + `
waivers = { RULE_ID = "why the risk is acceptable here" }
` + "```" + `

The same rule, with the same ID and words, can be enforced in three places:

- **plan**: a k8sguard resource refuses the shape at ` + "`terraform plan`" + `;
- **API server**: ` + "`k8sguard_admission_guardrails`" + ` installs it as a ValidatingAdmissionPolicy, so it holds
  for every object whatever creates it (Helm, kubectl, an operator). Errors deny by default, warnings warn; a live
  object is waived from a waivable rule by the annotation ` + "`" + guard.WaiverAnnotationPrefix + `<RULE_ID>: "<reason>"` + "`" + `;
- **audit**: the ` + "`k8sguard_cluster_audit`" + ` data source reports the live objects that break it.

This page is generated from ` + "`provider/guard`" + ` by ` + "`make docs`" + `.

| ID | Severity | Waivable | Enforced at | What it checks | Story it prevents |
|---|---|---|---|---|---|
`)
	for _, r := range rules {
		waivable := "no"
		if r.Waivable {
			waivable = "yes"
		}
		story := r.Story.Name
		if r.Story.URL != "" {
			story = fmt.Sprintf("[%s](%s)", r.Story.Name, r.Story.URL)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", r.ID, r.Severity, waivable, strings.Join(r.Enforced.Names(), ", "), escape(r.Checks), escape(story))
	}
	return b.String()
}

// renderCritical is the table behind WEBHOOK_CRITICAL_RESOURCE, with why
// each request matters.
func renderCritical(critical []guard.CriticalResource) string {
	var b strings.Builder
	b.WriteString(`
## Requests no webhook may intercept

` + "`WEBHOOK_CRITICAL_RESOURCE`" + ` refuses a rule that the API server would match against one of these
requests, in any API version (the default ` + "`match_policy = \"Equivalent\"`" + ` sends every version). Rules
are matched as the API server matches them: ` + "`leases`" + ` is the resource alone, ` + "`leases/*`" + ` is leases
*and* all its subresources, ` + "`*`" + ` every resource but no subresource, ` + "`*/status`" + ` every status
subresource, ` + "`*/*`" + ` everything; the rule's ` + "`scope`" + ` and ` + "`operations`" + ` count. Webhook configurations,
admission policies and their bindings are not here: the API server never sends them to webhooks
(` + "`WEBHOOK_NO_EFFECT`" + `).

| Resource | Scope | Operations | Why the control plane needs it |
|---|---|---|---|
`)
	for _, c := range critical {
		scope := "Cluster"
		if c.Namespaced {
			scope = "Namespaced"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c, scope, strings.Join(c.Operations, ", "), escape(c.Reason))
	}
	return b.String()
}

func escape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
