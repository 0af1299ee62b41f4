package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/k8sguard/k8sguard/provider/cloud"
)

// endpointKeyValidator accepts only the services the aws block can override.
type endpointKeyValidator struct{}

func (endpointKeyValidator) Description(context.Context) string {
	return fmt.Sprintf("service must be one of %v", cloud.Services)
}
func (v endpointKeyValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (endpointKeyValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for _, s := range cloud.Services {
		if s == req.ConfigValue.ValueString() {
			return
		}
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Unknown AWS service in endpoints",
		fmt.Sprintf("%q is not a service k8sguard calls: endpoints accepts %v", req.ConfigValue.ValueString(), cloud.Services))
}

// endpointURLValidator requires an endpoint override to be a URL with a
// scheme: "127.0.0.1:5000" silently means a path to the SDK.
type endpointURLValidator struct{}

func (endpointURLValidator) Description(context.Context) string {
	return "endpoint must be a URL with scheme and host"
}
func (v endpointURLValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (endpointURLValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := cloud.ValidateEndpointURL(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid AWS endpoint", err.Error())
	}
}

// reservedTagPrefixValidator refuses map keys under a prefix the provider
// writes itself (k8sguard:* sizing tags): a user's tag there would be
// overwritten on apply, or dropped by Read into a diff that never goes away.
type reservedTagPrefixValidator struct{ prefix string }

func (v reservedTagPrefixValidator) Description(context.Context) string {
	return fmt.Sprintf("keys must not start with %q", v.prefix)
}
func (v reservedTagPrefixValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (v reservedTagPrefixValidator) ValidateMap(_ context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for k := range req.ConfigValue.Elements() {
		if strings.HasPrefix(k, v.prefix) {
			resp.Diagnostics.AddAttributeError(req.Path, "Reserved tag key",
				fmt.Sprintf("tags key %q: %s* tags are reserved: k8sguard writes them with the sizing the guard checked. Use another prefix.", k, v.prefix))
		}
	}
}
