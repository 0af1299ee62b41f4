package provider

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
)

// clientsFrom unpacks the provider data handed to Configure. It is nil
// before the provider is configured (terraform validate), which callers
// treat as "plan-time checks with default settings only".
func clientsFrom(data any, diags *diag.Diagnostics) *Clients {
	if data == nil {
		return nil
	}
	c, ok := data.(*Clients)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("expected *provider.Clients, got %T: this is a bug in k8sguard", data))
		return nil
	}
	return c
}
