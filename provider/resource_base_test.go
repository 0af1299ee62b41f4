package provider

import (
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func TestFindingRuleIDs(t *testing.T) {
	l := types.ListValueMust(types.StringType, []attr.Value{
		types.StringValue("[QUOTA_JOBS_ABOVE_PODS] jobs = 20 is above pods = 10. Prevents: CronJob pod explosion (Zalando incident 2)."),
		types.StringValue("[WEBHOOK_NO_CA] webhook \"x\" calls https://a without ca_bundle."),
		types.StringValue("no rule ID"),
	})
	got := findingRuleIDs(l)
	want := []string{"QUOTA_JOBS_ABOVE_PODS", "WEBHOOK_NO_CA", "no rule ID"}
	if !slices.Equal(got, want) {
		t.Fatalf("findingRuleIDs = %q, want %q", got, want)
	}
}
