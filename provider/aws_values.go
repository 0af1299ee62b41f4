package provider

// Conversions between Terraform list and map values and the plain strings
// the AWS SDK takes.

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// awsStringList is a list(string) attribute as a slice; null or unknown is empty.
func awsStringList(ctx context.Context, l types.List) []string {
	var out []string
	if l.IsNull() || l.IsUnknown() {
		return out
	}
	_ = l.ElementsAs(ctx, &out, false) // element type is string by schema
	return out
}

// awsStringMap is a map(string) attribute as a map; null or unknown is empty.
func awsStringMap(ctx context.Context, m types.Map) map[string]string {
	out := map[string]string{}
	if m.IsNull() || m.IsUnknown() {
		return out
	}
	_ = m.ElementsAs(ctx, &out, false) // element type is string by schema
	return out
}

// awsMapOrNull keeps a null attribute null when AWS reports an empty map.
func awsMapOrNull(ctx context.Context, prior types.Map, got map[string]string, diags *diag.Diagnostics) types.Map {
	if len(got) == 0 && (prior.IsNull() || prior.IsUnknown()) {
		return types.MapNull(types.StringType)
	}
	v, d := types.MapValueFrom(ctx, types.StringType, got)
	diags.Append(d...)
	return v
}
