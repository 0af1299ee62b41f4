package provider

import (
	"context"
	"fmt"
	"maps"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// managedByLabel marks the objects k8sguard created.
const managedByLabel = "app.kubernetes.io/managed-by"

// webhookKind is what differs between the two webhook resources: the type
// name and the API object.
type webhookKind struct {
	typeSuffix string // after the provider name: "_validating_webhook"
	apiKind    string // "ValidatingWebhookConfiguration"
	mutating   bool
}

var (
	validatingKind = webhookKind{typeSuffix: "_validating_webhook", apiKind: "ValidatingWebhookConfiguration"}
	mutatingKind   = webhookKind{typeSuffix: "_mutating_webhook", apiKind: "MutatingWebhookConfiguration", mutating: true}
)

// liveConfiguration is either kind of configuration object in one form:
// the webhooks as ValidatingWebhooks, plus the mutating ones' reinvocation
// policies (same index).
type liveConfiguration struct {
	name, resourceVersion string
	// labels and annotations of the live object: an update keeps those
	// other actors set (cert-manager's cert-manager.io/inject-ca-from,
	// a GitOps tool's tracking label).
	labels, annotations map[string]string
	webhooks            []admissionv1.ValidatingWebhook
	reinvocation        []string
}

// caBundle is the CA bundle of the live webhook called name.
func (l *liveConfiguration) caBundle(name string) []byte {
	for _, w := range l.webhooks {
		if w.Name == name {
			return w.ClientConfig.CABundle
		}
	}
	return nil
}

// get returns the live object, or nil when it does not exist.
func (k webhookKind) get(ctx context.Context, c *Clients, name string) (*liveConfiguration, error) {
	cs, err := clientset(c)
	if err != nil {
		return nil, err
	}
	live := &liveConfiguration{name: name}
	if k.mutating {
		obj, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		live.resourceVersion, live.labels, live.annotations = obj.ResourceVersion, obj.Labels, obj.Annotations
		for _, w := range obj.Webhooks {
			v, reinvocation := fromMutating(w)
			live.webhooks = append(live.webhooks, v)
			live.reinvocation = append(live.reinvocation, reinvocation)
		}
		return live, nil
	}
	obj, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	live.resourceVersion, live.labels, live.annotations = obj.ResourceVersion, obj.Labels, obj.Annotations
	live.webhooks = obj.Webhooks
	return live, nil
}

// put creates the object when cfg.resourceVersion is empty and replaces it
// otherwise, keeping cfg's labels and annotations. On create an existing
// object of the same name is never adopted: its webhooks would be silently
// replaced.
func (k webhookKind) put(ctx context.Context, c *Clients, cfg liveConfiguration) error {
	cs, err := clientset(c)
	if err != nil {
		return err
	}
	labels := maps.Clone(cfg.labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[managedByLabel] = "k8sguard"
	meta := metav1.ObjectMeta{Name: cfg.name, ResourceVersion: cfg.resourceVersion, Labels: labels, Annotations: cfg.annotations}
	api := cs.AdmissionregistrationV1()
	if k.mutating {
		obj := &admissionv1.MutatingWebhookConfiguration{ObjectMeta: meta}
		for i, w := range cfg.webhooks {
			obj.Webhooks = append(obj.Webhooks, toMutating(w, cfg.reinvocation[i]))
		}
		if cfg.resourceVersion == "" {
			_, err = api.MutatingWebhookConfigurations().Create(ctx, obj, metav1.CreateOptions{})
		} else {
			_, err = api.MutatingWebhookConfigurations().Update(ctx, obj, metav1.UpdateOptions{})
		}
	} else {
		obj := &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: meta, Webhooks: cfg.webhooks}
		if cfg.resourceVersion == "" {
			_, err = api.ValidatingWebhookConfigurations().Create(ctx, obj, metav1.CreateOptions{})
		} else {
			_, err = api.ValidatingWebhookConfigurations().Update(ctx, obj, metav1.UpdateOptions{})
		}
	}
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s %q already exists and k8sguard did not create it: it does not adopt existing objects, whose webhooks it would "+
			"silently replace. To manage it with k8sguard, import it first: terraform import <resource address> %s", k.apiKind, cfg.name, cfg.name)
	}
	return err
}

func (k webhookKind) delete(ctx context.Context, c *Clients, name string) error {
	cs, err := clientset(c)
	if err != nil {
		return err
	}
	if k.mutating {
		err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
	} else {
		err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// backendOf reads what WEBHOOK_BACKEND_NOT_READY needs: whether the service
// exists and how many of the endpoints in its EndpointSlices are ready.
func backendOf(ctx context.Context, c *Clients, svc *guard.WebhookService) (guard.Backend, error) {
	var b guard.Backend
	cs, err := clientset(c)
	if err != nil {
		return b, err
	}
	_, err = cs.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return b, nil
	}
	if err != nil {
		return b, fmt.Errorf("get service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	b.ServiceFound = true
	slices, err := cs.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc.Name})
	if err != nil {
		return b, fmt.Errorf("list EndpointSlices of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	b.Slices = len(slices.Items)
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			b.Endpoints++
			// An unset ready condition means ready (discovery/v1).
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				b.ReadyEndpoints++
			}
		}
	}
	return b, nil
}
