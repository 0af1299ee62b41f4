package provider

import (
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/provider/guard"
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

// clientset is the Kubernetes client of a configured provider.
func clientset(c *Clients) (kubernetes.Interface, error) {
	if c == nil {
		return nil, errors.New("the provider is not configured: this is a bug in k8sguard")
	}
	cs, err := c.Kube.Clientset()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, nil
}

// settingsOf returns the provider's settings, or its defaults when the
// provider is not configured yet.
func settingsOf(c *Clients) guard.Settings {
	if c != nil {
		return c.Settings
	}
	return guard.Settings{
		ProtectedNamespaces:      defaultProtectedNamespaces,
		MaxWebhookTimeoutSeconds: defaultMaxWebhookTimeoutSeconds,
		MaxPodsPerNamespace:      defaultMaxPodsPerNamespace,
	}
}

// kubeKnown and awsKnown report whether the provider's kubernetes and aws
// configuration is decided. During plan it may come from another resource's
// output (the cluster being created in the same configuration): Read then
// leaves the state as it is, and plan-time lookups wait for apply, rather
// than use the kubeconfig's or the SDK's defaults, another cluster or
// account with other credentials.
func (c *Clients) kubeKnown() bool { return c != nil && c.Kube.Known() }
func (c *Clients) awsKnown() bool  { return c != nil && c.AWS.Known() }
