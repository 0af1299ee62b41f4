package provider

import (
	"context"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// waiversAttribute is the `waivers` map every guarded resource takes.
func waiversAttribute() schema.MapAttribute {
	return schema.MapAttribute{
		ElementType: types.StringType,
		Optional:    true,
		MarkdownDescription: "Rule waivers, `{ RULE_ID = \"why this is acceptable\" }`. A waived error becomes a warning that " +
			"keeps the reason; a waiver without a reason, or for a rule that cannot be waived, is an error. Kept in state for review.",
	}
}

// findingsAttribute is the computed list of warnings kept in state.
func findingsAttribute() schema.ListAttribute {
	return schema.ListAttribute{
		ElementType:         types.StringType,
		Computed:            true,
		MarkdownDescription: "Warnings (including waived errors) the rules raised for this configuration, kept in state so reviews see them.",
	}
}

// waiversFrom reads the waivers whose reasons are known: unknown or null
// yields none. pending lists the keys whose reason is not known until apply
// (another resource's output), and all is true when the whole map is.
func waiversFrom(m types.Map) (known map[string]string, pending []string, all bool) {
	known = map[string]string{}
	if m.IsUnknown() {
		return known, nil, true
	}
	for k, v := range m.Elements() {
		s, _ := v.(types.String)
		if s.IsUnknown() {
			pending = append(pending, k)
			continue
		}
		known[k] = s.ValueString() // null: no reason, WAIVER_INVALID
	}
	sort.Strings(pending)
	return known, pending, false
}

// toPath converts a guard.Path into a framework attribute path.
func toPath(p guard.Path) path.Path {
	var out path.Path
	for i, step := range p {
		switch v := step.(type) {
		case int:
			out = out.AtListIndex(v)
		case guard.MapKey:
			out = out.AtMapKey(string(v))
		case string:
			if i == 0 {
				out = path.Root(v)
			} else {
				out = out.AtName(v)
			}
		}
	}
	return out
}

// waive applies the resource's `waivers` attribute to the rules' findings:
// a waived error becomes a warning that keeps its reason.
// A waiver not known until apply (the map, or a reason, from another
// resource's output) may turn an error into a warning: the errors it may
// waive are left to apply, when Terraform plans once more with the final
// waivers and the rules run again (see plannedFindings). They were
// reported at plan before, so a waived configuration failed its plan, and
// reading an unknown reason failed it with a Value Conversion Error.
func waive(_ context.Context, findings []guard.Finding, waivers types.Map, _ *diag.Diagnostics) []guard.Finding {
	known, pending, all := waiversFrom(waivers)
	if all {
		return guard.WithoutWaivableErrors(findings)
	}
	return guard.ApplyWaivers(guard.WithoutErrorsOf(findings, pending), known, pending, "waivers")
}

// withSettings keeps the findings of the rules that read the provider's
// settings only while the settings are known. During plan they may come
// from another resource's output: the rules then ran with the defaults
// (a 5 s timeout cap where the configuration says 20) and refused good
// configurations. They run at apply, when Terraform plans once more.
func withSettings(s guard.Settings, fs []guard.Finding) []guard.Finding {
	if s.Unknown {
		return guard.WithoutSettingsRules(fs)
	}
	return fs
}

// plannedFindingsWith is plannedFindings, unknown also while the settings are.
func plannedFindingsWith(config tfsdk.Config, s guard.Settings, findings []guard.Finding) types.List {
	if s.Unknown {
		return types.ListUnknown(types.StringType)
	}
	return plannedFindings(config, findings)
}

// reportFindings waives, reports every finding as a diagnostic and returns
// the waived findings.
func reportFindings(ctx context.Context, findings []guard.Finding, waivers types.Map, diags *diag.Diagnostics) []guard.Finding {
	findings = waive(ctx, findings, waivers, diags)
	addFindings(diags, findings)
	return findings
}

// reportErrors is reportFindings for ValidateConfig: only the errors that
// remain after the waivers, since plan reports the warnings again.
func reportErrors(ctx context.Context, findings []guard.Finding, waivers types.Map, diags *diag.Diagnostics) {
	addFindings(diags, errorsOnly(waive(ctx, findings, waivers, diags)))
}

// errorsOnly keeps the error findings.
func errorsOnly(fs []guard.Finding) []guard.Finding {
	var out []guard.Finding
	for _, f := range fs {
		if f.Severity == guard.Error {
			out = append(out, f)
		}
	}
	return out
}

// addFindings reports findings as diagnostics on their attributes.
func addFindings(diags *diag.Diagnostics, findings []guard.Finding) {
	for _, f := range findings {
		detail := ruleDetail(f)
		if f.Severity == guard.Error {
			diags.AddAttributeError(toPath(f.Path), f.String(), detail)
		} else {
			diags.AddAttributeWarning(toPath(f.Path), f.String(), detail)
		}
	}
}

func ruleDetail(f guard.Finding) string {
	r, ok := guard.Lookup(f.RuleID)
	if !ok {
		return ""
	}
	d := "Rule " + r.ID + ": " + r.Checks + "."
	if r.Story.URL != "" {
		d += " Story: " + r.Story.URL
	}
	if r.Waivable && f.WaiverReason == "" && f.Severity == guard.Error {
		d += " To accept the risk, add waivers = { " + r.ID + " = \"why\" } to the resource."
	}
	return d
}

// warningStrings returns the warnings as strings for the `findings` attribute.
func warningStrings(findings []guard.Finding) types.List {
	vals := []string{}
	for _, f := range findings {
		if f.Severity == guard.Warning {
			vals = append(vals, f.String())
		}
	}
	l, _ := types.ListValueFrom(context.Background(), types.StringType, vals)
	return l
}
