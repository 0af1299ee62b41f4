package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// NewPodQuotaResource is k8sguard_pod_quota: a ResourceQuota capping pods
// (and jobs, cronjobs, CPU and memory) in one namespace, plus a LimitRange
// when container defaults are given.
func NewPodQuotaResource() resource.Resource {
	return &podQuotaResource{resourceBase{typeSuffix: "_pod_quota"}}
}

type podQuotaResource struct{ resourceBase }

var (
	_ resource.ResourceWithConfigure      = (*podQuotaResource)(nil)
	_ resource.ResourceWithValidateConfig = (*podQuotaResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*podQuotaResource)(nil)
	_ resource.ResourceWithImportState    = (*podQuotaResource)(nil)
)

const defaultPodQuotaName = "k8sguard-pods"

// How long apply waits for the quota controller to compute the quota's
// status: until then the API server does not count pods against it.
const quotaSyncTimeout = 30 * time.Second

type podQuotaModel struct {
	ID                       types.String           `tfsdk:"id"`
	Namespace                types.String           `tfsdk:"namespace"`
	Name                     types.String           `tfsdk:"name"`
	Pods                     types.Int64            `tfsdk:"pods"`
	Jobs                     types.Int64            `tfsdk:"jobs"`
	CronJobs                 types.Int64            `tfsdk:"cron_jobs"`
	RequestsCPU              types.String           `tfsdk:"requests_cpu"`
	RequestsMemory           types.String           `tfsdk:"requests_memory"`
	LimitsMemory             types.String           `tfsdk:"limits_memory"`
	DefaultContainerRequests []containerAmountModel `tfsdk:"default_container_requests"`
	DefaultContainerLimits   []containerAmountModel `tfsdk:"default_container_limits"`
	UsedPods                 types.Int64            `tfsdk:"used_pods"`
	UsedJobs                 types.Int64            `tfsdk:"used_jobs"`
	Waivers                  types.Map              `tfsdk:"waivers"`
	Findings                 types.List             `tfsdk:"findings"`
}

type containerAmountModel struct {
	CPU    types.String `tfsdk:"cpu"`
	Memory types.String `tfsdk:"memory"`
}

// quotaCounts maps the count attributes to the quota's hard resources.
var quotaCounts = []struct {
	attr string
	name corev1.ResourceName
	get  func(*podQuotaModel) *types.Int64
}{
	{"pods", corev1.ResourcePods, func(m *podQuotaModel) *types.Int64 { return &m.Pods }},
	{"jobs", "count/jobs.batch", func(m *podQuotaModel) *types.Int64 { return &m.Jobs }},
	{"cron_jobs", "count/cronjobs.batch", func(m *podQuotaModel) *types.Int64 { return &m.CronJobs }},
}

// quotaAmounts maps the quantity attributes to the quota's hard resources.
var quotaAmounts = []struct {
	attr string
	name corev1.ResourceName
	get  func(*podQuotaModel) *types.String
}{
	{"requests_cpu", corev1.ResourceRequestsCPU, func(m *podQuotaModel) *types.String { return &m.RequestsCPU }},
	{"requests_memory", corev1.ResourceRequestsMemory, func(m *podQuotaModel) *types.String { return &m.RequestsMemory }},
	{"limits_memory", corev1.ResourceLimitsMemory, func(m *podQuotaModel) *types.String { return &m.LimitsMemory }},
}

func (r *podQuotaResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	amount := func(what string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, MarkdownDescription: what + ", a Kubernetes quantity such as `\"20\"`, `\"500m\"` or `\"64Gi\"` (rule `QUOTA_INVALID_QUANTITY`)."}
	}
	containerBlock := func(what string) schema.ListNestedBlock {
		return schema.ListNestedBlock{
			MarkdownDescription: what + " Creates a LimitRange of the same name.",
			Validators:          []validator.List{listvalidator.SizeAtMost(1)},
			NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
				"cpu":    amount("CPU"),
				"memory": amount("Memory"),
			}},
		}
	}
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Caps the number of pods (and optionally jobs, cronjobs, CPU and memory) in one namespace with a `ResourceQuota`, " +
			"so a runaway CronJob or controller cannot flood the API server and etcd. With `default_container_requests`/`default_container_limits` " +
			"it also manages a `LimitRange` of the same name. Apply waits until the quota controller has computed the quota's status, because " +
			"the API server enforces a quota only from then on. The objects must not exist yet: adopt existing ones with `terraform import`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "`namespace/name`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"namespace": schema.StringAttribute{Required: true, PlanModifiers: replace,
				MarkdownDescription: "Namespace to cap. A protected namespace draws a warning (rule `QUOTA_PROTECTED_NAMESPACE`)."},
			"name": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultPodQuotaName), PlanModifiers: replace,
				MarkdownDescription: "Name of the ResourceQuota (and LimitRange). Default `" + defaultPodQuotaName + "`."},
			"pods": schema.Int64Attribute{Required: true,
				MarkdownDescription: "Most pods the namespace may hold (`spec.hard.pods`): at least 1 and at most the provider's `max_pods_per_namespace` " +
					"(rules `QUOTA_PODS_REQUIRED`, `QUOTA_PODS_ABOVE_CLUSTER_MAX`). Finished pods do not count."},
			"jobs": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.AtLeast(0)},
				MarkdownDescription: "Most Jobs (`count/jobs.batch`), at most `pods` (rule `QUOTA_JOBS_ABOVE_PODS`)."},
			"cron_jobs": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.AtLeast(0)},
				MarkdownDescription: "Most CronJobs (`count/cronjobs.batch`)."},
			"requests_cpu":    amount("Total CPU requests (`requests.cpu`)"),
			"requests_memory": amount("Total memory requests (`requests.memory`)"),
			"limits_memory":   amount("Total memory limits (`limits.memory`)"),
			// No UseStateForUnknown: pods come and go between plan and apply,
			// and a known planned count the apply then reads differently fails
			// the apply as an inconsistent result.
			"used_pods": schema.Int64Attribute{Computed: true,
				MarkdownDescription: "Pods counted against the quota when last read (quota status)."},
			"used_jobs": schema.Int64Attribute{Computed: true,
				MarkdownDescription: "Jobs counted against the quota when last read; 0 when `jobs` is not set."},
			"waivers":  waiversAttribute(),
			"findings": findingsAttribute(),
		},
		Blocks: map[string]schema.Block{
			"default_container_requests": containerBlock("Requests given to containers that set none (LimitRange `defaultRequest`): with `requests_*` quotas, pods without requests are otherwise rejected."),
			"default_container_limits":   containerBlock("Limits given to containers that set none (LimitRange `default`)."),
		},
	}
}

// guardQuota is what the rules see; values not known until apply are nil.
func guardQuota(m *podQuotaModel) guard.PodQuota {
	count := func(v types.Int64) *int64 {
		if v.IsNull() || v.IsUnknown() {
			return nil
		}
		n := v.ValueInt64()
		return &n
	}
	q := guard.PodQuota{
		Namespace: m.Namespace.ValueString(), NamespaceUnknown: m.Namespace.IsUnknown(),
		Pods: count(m.Pods), Jobs: count(m.Jobs), CronJobs: count(m.CronJobs),
	}
	for _, a := range quotaAmounts {
		q.Quantities = append(q.Quantities, guard.Quantity{Path: guard.Path{a.attr}, Value: a.get(m).ValueString()})
	}
	for _, b := range []struct {
		attr   string
		blocks []containerAmountModel
	}{{"default_container_requests", m.DefaultContainerRequests}, {"default_container_limits", m.DefaultContainerLimits}} {
		for i, c := range b.blocks {
			q.Quantities = append(q.Quantities,
				guard.Quantity{Path: guard.Path{b.attr, i, "cpu"}, Value: c.CPU.ValueString()},
				guard.Quantity{Path: guard.Path{b.attr, i, "memory"}, Value: c.Memory.ValueString()})
		}
	}
	return q
}

// ValidateConfig: the rules that need no provider settings, errors only
// (see the webhook resource for why).
func (r *podQuotaResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var cfg podQuotaModel
	// A block generated by `dynamic` over a variable is not known during
	// validate: leave such configurations to plan, which runs every rule.
	if diags := req.Config.Get(ctx, &cfg); diags.HasError() {
		return
	}
	reportErrors(ctx, guard.WithoutSettingsRules(guard.CheckPodQuota(guardQuota(&cfg), guard.Settings{})), cfg.Waivers, &resp.Diagnostics)
}

func (r *podQuotaResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var plan podQuotaModel
	if !plannedModel(ctx, req, &plan, &resp.Diagnostics) {
		return
	}
	settings := settingsOf(r.clients)
	plan.Findings = plannedFindingsWith(req.Config, settings, reportFindings(ctx, withSettings(settings, guard.CheckPodQuota(guardQuota(&plan), settings)), plan.Waivers, &resp.Diagnostics))
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	keepFindingsWording(ctx, req, resp)
}

// quotaSpec is the ResourceQuota's spec.hard for a plan (all values known).
func quotaSpec(m *podQuotaModel) corev1.ResourceList {
	hard := corev1.ResourceList{}
	for _, c := range quotaCounts {
		if v := c.get(m); !v.IsNull() {
			hard[c.name] = *apiresource.NewQuantity(v.ValueInt64(), apiresource.DecimalSI)
		}
	}
	for _, a := range quotaAmounts {
		if v := a.get(m); !v.IsNull() {
			hard[a.name] = apiresource.MustParse(v.ValueString()) // validated at plan
		}
	}
	return hard
}

// containerAmounts is a LimitRange default; nil when the block is absent.
func containerAmounts(blocks []containerAmountModel) corev1.ResourceList {
	if len(blocks) == 0 {
		return nil
	}
	out := corev1.ResourceList{}
	if v := blocks[0].CPU; !v.IsNull() {
		out[corev1.ResourceCPU] = apiresource.MustParse(v.ValueString())
	}
	if v := blocks[0].Memory; !v.IsNull() {
		out[corev1.ResourceMemory] = apiresource.MustParse(v.ValueString())
	}
	return out
}

func limitRangeSpec(m *podQuotaModel) *corev1.LimitRangeSpec {
	requests, limits := containerAmounts(m.DefaultContainerRequests), containerAmounts(m.DefaultContainerLimits)
	if requests == nil && limits == nil {
		return nil
	}
	return &corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, DefaultRequest: requests, Default: limits}}}
}

func (r *podQuotaResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan podQuotaModel
	cs, ok := modelAndClient(ctx, req.Plan, &plan, &resp.Diagnostics, r.kubeClient)
	if !ok {
		return
	}
	ns, name := plan.Namespace.ValueString(), plan.Name.ValueString()
	// The LimitRange of the same name is the quota's too (Update rewrites
	// it, or deletes it when no default is configured): someone else's is
	// refused, before anything is created. k8sguard's own stays (the quota
	// was deleted outside Terraform and is being recreated); with the quota
	// there as well, the quota's error below points to import, which adopts
	// both.
	if lr, err := cs.CoreV1().LimitRanges(ns).Get(ctx, name, metav1.GetOptions{}); err == nil && lr.Labels[managedByLabel] != "k8sguard" {
		if _, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			resp.Diagnostics.AddError(fmt.Sprintf("LimitRange %s/%s already exists", ns, name),
				fmt.Sprintf("k8sguard manages the LimitRange named like the quota, and does not adopt existing objects: it would silently replace "+
					"this one's limits, or delete it. Give the quota another name, or remove the LimitRange first "+
					"(kubectl -n %s get limitrange %s -o yaml).", ns, name))
			return
		}
	} else if err != nil && !apierrors.IsNotFound(err) {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot read LimitRange %s/%s", ns, name), err.Error())
		return
	}
	meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{managedByLabel: "k8sguard"}}
	_, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: meta, Spec: corev1.ResourceQuotaSpec{Hard: quotaSpec(&plan)}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		resp.Diagnostics.AddError(fmt.Sprintf("ResourceQuota %s/%s already exists", ns, name),
			fmt.Sprintf("k8sguard did not create it and does not adopt existing objects, whose limits it would silently replace. "+
				"To manage it with k8sguard, import it first: terraform import <resource address> %s/%s", ns, name))
		return
	}
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot create ResourceQuota %s/%s", ns, name), err.Error())
		return
	}
	plan.ID = types.StringValue(ns + "/" + name)
	// Saved now so a failure below leaves the quota in state, not orphaned.
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	r.finishApply(ctx, cs, &plan, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *podQuotaResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan podQuotaModel
	cs, ok := modelAndClient(ctx, req.Plan, &plan, &resp.Diagnostics, r.kubeClient)
	if !ok {
		return
	}
	ns, name := plan.Namespace.ValueString(), plan.Name.ValueString()
	quota, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot read ResourceQuota %s/%s", ns, name), err.Error())
		return
	}
	quota.Spec.Hard = quotaSpec(&plan)
	if _, err := cs.CoreV1().ResourceQuotas(ns).Update(ctx, quota, metav1.UpdateOptions{}); err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot update ResourceQuota %s/%s", ns, name), err.Error())
		return
	}
	r.finishApply(ctx, cs, &plan, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// finishApply brings the LimitRange in line with the plan, waits for the
// quota to be enforced and records its usage.
func (r *podQuotaResource) finishApply(ctx context.Context, cs kubernetes.Interface, plan *podQuotaModel, diags *diag.Diagnostics) {
	ns, name := plan.Namespace.ValueString(), plan.Name.ValueString()
	setUsage(plan, nil) // known values in state even if this fails
	if err := putLimitRange(ctx, cs, ns, name, limitRangeSpec(plan)); err != nil {
		diags.AddError(fmt.Sprintf("Cannot write LimitRange %s/%s", ns, name), err.Error())
		return
	}
	quota, err := waitQuotaEnforced(ctx, cs, ns, name, quotaSyncTimeout)
	if err != nil {
		diags.AddWarning(fmt.Sprintf("ResourceQuota %s/%s is not enforced yet", ns, name),
			fmt.Sprintf("%v. The API server counts pods against a quota only once the quota controller has computed its status: "+
				"check that kube-controller-manager runs the resourcequota controller (kubectl -n %s describe resourcequota %s).", err, ns, name))
	}
	setUsage(plan, quota)
}

func putLimitRange(ctx context.Context, cs kubernetes.Interface, ns, name string, spec *corev1.LimitRangeSpec) error {
	api := cs.CoreV1().LimitRanges(ns)
	existing, err := api.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && spec == nil:
		return nil
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, &corev1.LimitRange{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{managedByLabel: "k8sguard"}}, Spec: *spec,
		}, metav1.CreateOptions{})
		return err
	case err != nil:
		return err
	case spec == nil:
		return api.Delete(ctx, name, metav1.DeleteOptions{})
	default:
		existing.Spec = *spec
		_, err = api.Update(ctx, existing, metav1.UpdateOptions{})
		return err
	}
}

// waitQuotaEnforced polls until the quota's status holds every hard limit
// of its spec, which is when admission starts counting against it.
func waitQuotaEnforced(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) (*corev1.ResourceQuota, error) {
	deadline := time.Now().Add(timeout)
	for {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read ResourceQuota %s/%s: %w", ns, name, err)
		}
		if quotaSynced(q) {
			return q, nil
		}
		if time.Now().After(deadline) {
			return q, fmt.Errorf("its status was not computed within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return q, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func quotaSynced(q *corev1.ResourceQuota) bool {
	for res, want := range q.Spec.Hard {
		got, ok := q.Status.Hard[res]
		if !ok || got.Cmp(want) != 0 {
			return false
		}
	}
	return true
}

func setUsage(m *podQuotaModel, q *corev1.ResourceQuota) {
	m.UsedPods, m.UsedJobs = types.Int64Value(0), types.Int64Value(0)
	if q == nil {
		return
	}
	if v, ok := q.Status.Used[corev1.ResourcePods]; ok {
		m.UsedPods = types.Int64Value(v.Value())
	}
	if v, ok := q.Status.Used["count/jobs.batch"]; ok {
		m.UsedJobs = types.Int64Value(v.Value())
	}
}

func (r *podQuotaResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if !r.clients.kubeKnown() { // the provider's configuration comes from another resource: keep the state until apply
		return
	}
	var state podQuotaModel
	cs, ok := modelAndClient(ctx, req.State, &state, &resp.Diagnostics, r.kubeClient)
	if !ok {
		return
	}
	ns, name := state.Namespace.ValueString(), state.Name.ValueString()
	quota, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot read ResourceQuota %s/%s", ns, name), err.Error())
		return
	}
	for _, c := range quotaCounts {
		if v, ok := quota.Spec.Hard[c.name]; ok {
			*c.get(&state) = types.Int64Value(v.Value())
		} else {
			*c.get(&state) = types.Int64Null()
		}
	}
	for _, a := range quotaAmounts {
		v, ok := quota.Spec.Hard[a.name]
		*a.get(&state) = keepSpelling(*a.get(&state), v, ok)
	}
	lr, err := cs.CoreV1().LimitRanges(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot read LimitRange %s/%s", ns, name), err.Error())
		return
	}
	var defaults corev1.LimitRangeItem
	if err == nil {
		for _, item := range lr.Spec.Limits {
			if item.Type == corev1.LimitTypeContainer {
				defaults = item
			}
		}
	}
	state.DefaultContainerRequests = containerBlocksFromAPI(state.DefaultContainerRequests,
		withoutFilledRequests(defaults.DefaultRequest, defaults.Default, state.DefaultContainerRequests))
	state.DefaultContainerLimits = containerBlocksFromAPI(state.DefaultContainerLimits, defaults.Default)
	state.ID = types.StringValue(ns + "/" + name)
	if state.Findings.IsNull() { // import: the warnings the quota draws, as a plan of its configuration would list them
		state.Findings = warningStrings(guard.CheckPodQuota(guardQuota(&state), settingsOf(r.clients)))
	}
	setUsage(&state, quota)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// keepSpelling returns the live quantity, in the spelling of the prior
// state when the two are equal ("0.5" and "500m"), so only real changes
// show as a diff.
func keepSpelling(prior types.String, live apiresource.Quantity, present bool) types.String {
	if !present {
		return types.StringNull()
	}
	if !prior.IsNull() && !prior.IsUnknown() {
		if q, err := apiresource.ParseQuantity(prior.ValueString()); err == nil && q.Cmp(live) == 0 {
			return prior
		}
	}
	return types.StringValue(live.String())
}

// withoutFilledRequests drops the default requests the API server filled
// in itself: a LimitRange given only a default limit for a resource gets a
// default request equal to it (SetDefaults_LimitRangeItem). Those were not
// written by the configuration, and reading them back would show a diff
// on every plan; a request the prior state holds is kept.
func withoutFilledRequests(requests, limits corev1.ResourceList, prior []containerAmountModel) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range requests {
		if l, ok := limits[name]; ok && l.Cmp(q) == 0 && !priorSetsAmount(prior, name) {
			continue
		}
		out[name] = q
	}
	return out
}

func priorSetsAmount(prior []containerAmountModel, name corev1.ResourceName) bool {
	if len(prior) == 0 {
		return false
	}
	switch name {
	case corev1.ResourceCPU:
		return !prior[0].CPU.IsNull()
	case corev1.ResourceMemory:
		return !prior[0].Memory.IsNull()
	}
	return false
}

func containerBlocksFromAPI(prior []containerAmountModel, live corev1.ResourceList) []containerAmountModel {
	if len(live) == 0 {
		return []containerAmountModel{}
	}
	p := containerAmountModel{CPU: types.StringNull(), Memory: types.StringNull()}
	if len(prior) > 0 {
		p = prior[0]
	}
	cpu, hasCPU := live[corev1.ResourceCPU]
	mem, hasMem := live[corev1.ResourceMemory]
	return []containerAmountModel{{CPU: keepSpelling(p.CPU, cpu, hasCPU), Memory: keepSpelling(p.Memory, mem, hasMem)}}
}

func (r *podQuotaResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state podQuotaModel
	cs, ok := modelAndClient(ctx, req.State, &state, &resp.Diagnostics, r.kubeClient)
	if !ok {
		return
	}
	ns, name := state.Namespace.ValueString(), state.Name.ValueString()
	if err := cs.CoreV1().LimitRanges(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot delete LimitRange %s/%s", ns, name), err.Error())
	}
	if err := cs.CoreV1().ResourceQuotas(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot delete ResourceQuota %s/%s", ns, name), err.Error())
	}
}

// ImportState takes `namespace/name`.
func (r *podQuotaResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ns, name, ok := strings.Cut(req.ID, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("%q: import a pod quota as namespace/name, for example team-a/%s", req.ID, defaultPodQuotaName))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("namespace"), ns)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
