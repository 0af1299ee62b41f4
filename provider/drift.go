package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// driftAttribute is the computed list of the hardening an object lost
// outside Terraform; description says what the resource checks. Read fills
// it and plan sets it empty, so a drifted object always shows a diff.
func driftAttribute(description string) schema.ListAttribute {
	return schema.ListAttribute{ElementType: types.StringType, Computed: true, MarkdownDescription: description}
}

// driftList is the drift attribute's value after a read: an empty list
// (never null) when nothing drifted.
func driftList(ctx context.Context, drift []string) types.List {
	if len(drift) == 0 {
		return emptyStringList()
	}
	l, _ := types.ListValueFrom(ctx, types.StringType, drift)
	return l
}

func emptyStringList() types.List {
	l, _ := types.ListValue(types.StringType, nil)
	return l
}
