package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/k8sguard/k8sguard/provider/cloud"
	"github.com/k8sguard/k8sguard/provider/guard"
)

var (
	_ resource.ResourceWithConfigure   = (*etcdBackupBucketResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*etcdBackupBucketResource)(nil)
	_ resource.ResourceWithImportState = (*etcdBackupBucketResource)(nil)
)

// lifecycleRuleID names the one lifecycle rule the bucket carries.
const lifecycleRuleID = "k8sguard-etcd-backups"

// tagAgentPrefix records agent_prefix on the bucket, so an import reads it back.
const tagAgentPrefix = "k8sguard:agent-prefix"

// NewEtcdBackupBucketResource is k8sguard_etcd_backup_bucket.
func NewEtcdBackupBucketResource() resource.Resource {
	return &etcdBackupBucketResource{resourceBase{typeSuffix: "_etcd_backup_bucket"}}
}

type etcdBackupBucketResource struct{ resourceBase }

type etcdBackupBucketModel struct {
	ID              types.String `tfsdk:"id"`
	Bucket          types.String `tfsdk:"bucket"`
	ObjectLockMode  types.String `tfsdk:"object_lock_mode"`
	RetentionDays   types.Int64  `tfsdk:"retention_days"`
	NoncurrentDays  types.Int64  `tfsdk:"noncurrent_days"`
	KMSKeyID        types.String `tfsdk:"kms_key_id"`
	AgentPrefix     types.String `tfsdk:"agent_prefix"`
	ForceDestroy    types.Bool   `tfsdk:"force_destroy"`
	Waivers         types.Map    `tfsdk:"waivers"`
	Findings        types.List   `tfsdk:"findings"`
	Drift           types.List   `tfsdk:"drift"`
	ARN             types.String `tfsdk:"arn"`
	AgentPolicyJSON types.String `tfsdk:"agent_policy_json"`
}

func (r *etcdBackupBucketResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The S3 bucket `etcdguard` writes etcd snapshots to, locked down: Object Lock from creation (WORM), " +
			"versioning, default encryption (SSE-S3, or SSE-KMS with `kms_key_id`), all four public-access blocks, a bucket policy " +
			"denying requests without TLS and uploads without server-side encryption (uploaders must send " +
			"`x-amz-server-side-encryption`), and a lifecycle that expires noncurrent versions after `noncurrent_days` and aborts " +
			"incomplete multipart uploads after a day. Drift in any of these is shown in `drift` and repaired by apply. " +
			"Destroy refuses a bucket that still holds objects unless `force_destroy = true`. Answers Zalando's incident 4, where " +
			"`etcdctl del -r` wiped a cluster that had no recent backup.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The bucket name, also the import ID.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"bucket": schema.StringAttribute{
				Required: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:          []validator.String{stringvalidator.LengthBetween(3, 63)},
				MarkdownDescription: "Bucket name. Object Lock can only be turned on when a bucket is created, so a new name means a new bucket.",
			},
			"object_lock_mode": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(guard.LockGovernance),
				Validators: []validator.String{stringvalidator.OneOf(guard.LockGovernance, guard.LockCompliance)},
				MarkdownDescription: "Default retention mode of new snapshots: `GOVERNANCE` (users with `s3:BypassGovernanceRetention` can still delete) " +
					"or `COMPLIANCE` (nobody can, not even the root user, until retention ends). Default `GOVERNANCE`.",
			},
			"retention_days": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(14),
				Validators:          []validator.Int64{int64validator.Between(1, 36500)},
				MarkdownDescription: fmt.Sprintf("Days every snapshot version stays undeletable. Default 14; below %d is refused (`BUCKET_RETENTION_SHORT`).", guard.MinRetentionDays),
			},
			"noncurrent_days": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(30),
				Validators:          []validator.Int64{int64validator.Between(1, 36500)},
				MarkdownDescription: "Days after which noncurrent versions (pruned or overwritten snapshots) expire. Default 30.",
			},
			"kms_key_id": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "KMS key ID or ARN for SSE-KMS. Default: SSE-S3 (AES256).",
			},
			"agent_prefix": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(""),
				MarkdownDescription: "Key prefix the agent writes under (for example `prod/`); scopes `agent_policy_json`. Default: the whole bucket.",
			},
			"force_destroy": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "Delete every object version (bypassing GOVERNANCE retention) when the bucket is destroyed. Default false: destroy refuses a bucket that holds snapshots. COMPLIANCE-mode versions cannot be deleted before their retention ends.",
			},
			"waivers":  waiversAttribute(),
			"findings": findingsAttribute(),
			"drift":    driftAttribute("Protections found missing or changed outside Terraform at the last refresh. Planned empty: apply restores every one."),
			"arn":      schema.StringAttribute{Computed: true, MarkdownDescription: "The bucket's ARN."},
			"agent_policy_json": schema.StringAttribute{
				Computed: true,
				MarkdownDescription: "Least-privilege IAM policy document for `etcdguard`: list, put, get, `DeleteObject` and `AbortMultipartUpload` under " +
					"`agent_prefix`. On this versioned, locked bucket `DeleteObject` only adds a delete marker, so retention pruning works while " +
					"the versions survive; `DeleteObjectVersion`, `BypassGovernanceRetention` and every bucket-level write are never granted. " +
					"With `kms_key_id`, also `kms:GenerateDataKey` and `kms:Decrypt` through S3 only, which SSE-KMS uploads and reads need " +
					"(on the key when it is given as an ARN; IAM cannot name a key by ID or alias, so then on any key).",
			},
		},
	}
}

func (m *etcdBackupBucketModel) guardBucket() guard.BackupBucket {
	return guard.BackupBucket{
		Name: m.Bucket.ValueString(), LockMode: m.ObjectLockMode.ValueString(), RetentionDays: m.RetentionDays.ValueInt64(),
		NoncurrentDays: m.NoncurrentDays.ValueInt64(), KMSKeyID: m.KMSKeyID.ValueString(), AgentPrefix: m.AgentPrefix.ValueString(),
	}
}

func (r *etcdBackupBucketResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var plan etcdBackupBucketModel
	if !plannedModel(ctx, req, &plan, &resp.Diagnostics) {
		return
	}
	plan.Drift = emptyStringList()
	if plan.Bucket.IsUnknown() || plan.AgentPrefix.IsUnknown() || plan.KMSKeyID.IsUnknown() {
		plan.ARN, plan.AgentPolicyJSON = types.StringUnknown(), types.StringUnknown()
	} else {
		b := plan.guardBucket()
		plan.ARN, plan.AgentPolicyJSON = types.StringValue(b.ARN()), types.StringValue(b.AgentPolicy())
	}
	if plan.RetentionDays.IsUnknown() || plan.NoncurrentDays.IsUnknown() || plan.Waivers.IsUnknown() {
		plan.Findings = types.ListUnknown(types.StringType)
	} else {
		plan.Findings = plannedFindings(req.Config, reportFindings(ctx, guard.CheckBackupBucket(plan.guardBucket()), plan.Waivers, &resp.Diagnostics))
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	keepFindingsWording(ctx, req, resp)
}

func (r *etcdBackupBucketResource) s3(ctx context.Context, diags errorAdder) (*s3.Client, bool) {
	return awsClient(ctx, &r.resourceBase, "S3", (*cloud.Lazy).S3, diags)
}

func (r *etcdBackupBucketResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m etcdBackupBucketModel
	c, ok := modelAndClient(ctx, req.Plan, &m, &resp.Diagnostics, r.s3)
	if !ok {
		return
	}
	name := m.Bucket.ValueString()
	// us-east-1 answers CreateBucket of a bucket this account already owns
	// with 200 OK: without this check an existing bucket (another team's
	// backups, one made by hand) would be adopted and its policy, lifecycle
	// and encryption rewritten. It is refused instead; import it to manage it.
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); err == nil {
		resp.Diagnostics.AddAttributeError(path.Root("bucket"), "The bucket already exists", bucketExistsDetail(name))
		return
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(true)}
	if cfg, err := r.clients.AWS.AWS(ctx); err == nil && cfg.Region != "us-east-1" {
		// us-east-1 is the one region that refuses an explicit constraint.
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(cfg.Region)}
	}
	if _, err := c.CreateBucket(ctx, in); err != nil {
		if isAWSErrorCode(err, "BucketAlreadyOwnedByYou") {
			resp.Diagnostics.AddAttributeError(path.Root("bucket"), "The bucket already exists", bucketExistsDetail(name))
			return
		}
		resp.Diagnostics.AddError("Cannot create the bucket", fmt.Sprintf("CreateBucket %s: %v", name, err))
		return
	}
	m.ID = types.StringValue(name)
	// Saved before the settings, so a failure leaves a bucket terraform knows
	// about (and repairs on the next apply).
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	if err := applyBucketProtections(ctx, c, m.guardBucket()); err != nil {
		resp.Diagnostics.AddError("Cannot lock down the bucket", err.Error())
	}
}

// applyBucketProtections puts every protection; each call is idempotent,
// so create and drift repair are the same code.
func applyBucketProtections(ctx context.Context, c *s3.Client, b guard.BackupBucket) error {
	name := aws.String(b.Name)
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: name,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		return fmt.Errorf("PutBucketVersioning %s: %w", b.Name, err)
	}
	// Written only when it differs: moto refuses it on a non-empty bucket.
	want := &s3types.DefaultRetention{Mode: s3types.ObjectLockRetentionMode(b.LockMode), Days: aws.Int32(int32(b.RetentionDays))}
	cur, err := c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: name})
	if err != nil && !isAWSErrorCode(err, "ObjectLockConfigurationNotFoundError") {
		return fmt.Errorf("GetObjectLockConfiguration %s: %w", b.Name, err)
	}
	if err != nil || cur.ObjectLockConfiguration.Rule == nil || cur.ObjectLockConfiguration.Rule.DefaultRetention == nil ||
		cur.ObjectLockConfiguration.Rule.DefaultRetention.Mode != want.Mode || aws.ToInt32(cur.ObjectLockConfiguration.Rule.DefaultRetention.Days) != aws.ToInt32(want.Days) {
		if _, err := c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: name,
			ObjectLockConfiguration: &s3types.ObjectLockConfiguration{ObjectLockEnabled: s3types.ObjectLockEnabledEnabled, Rule: &s3types.ObjectLockRule{DefaultRetention: want}},
		}); err != nil {
			return fmt.Errorf("PutObjectLockConfiguration %s: %w", b.Name, err)
		}
	}
	sse := s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryption(b.SSEAlgorithm())}
	if b.KMSKeyID != "" {
		sse.KMSMasterKeyID = aws.String(b.KMSKeyID)
	}
	if _, err := c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: name,
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{
			{ApplyServerSideEncryptionByDefault: &sse, BucketKeyEnabled: aws.Bool(b.KMSKeyID != "")},
		}}}); err != nil {
		return fmt.Errorf("PutBucketEncryption %s: %w", b.Name, err)
	}
	if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: name,
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
		}}); err != nil {
		return fmt.Errorf("PutPublicAccessBlock %s: %w", b.Name, err)
	}
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: name, Policy: aws.String(b.BucketPolicy())}); err != nil {
		return fmt.Errorf("PutBucketPolicy %s: %w", b.Name, err)
	}
	if err := tagBucket(ctx, c, b.Name, tagAgentPrefix, b.AgentPrefix); err != nil {
		return err
	}
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: name,
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{{
			ID: aws.String(lifecycleRuleID), Status: s3types.ExpirationStatusEnabled,
			Filter:                         &s3types.LifecycleRuleFilter{Prefix: aws.String("")},
			NoncurrentVersionExpiration:    &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(int32(b.NoncurrentDays))},
			AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)},
		}}}}); err != nil {
		return fmt.Errorf("PutBucketLifecycleConfiguration %s: %w", b.Name, err)
	}
	return nil
}

func (r *etcdBackupBucketResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if !r.clients.awsKnown() { // the provider's configuration comes from another resource: keep the state until apply
		return
	}
	var m etcdBackupBucketModel
	c, ok := modelAndClient(ctx, req.State, &m, &resp.Diagnostics, r.s3)
	if !ok {
		return
	}
	name := m.ID.ValueString()
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); err != nil {
		if isAWSNotFound(err) {
			resp.State.RemoveResource(ctx)
			return
		}
		resp.Diagnostics.AddError("Cannot read the bucket", fmt.Sprintf("HeadBucket %s: %v", name, err))
		return
	}
	m.Bucket = types.StringValue(name)
	if m.AgentPrefix.IsNull() {
		m.AgentPrefix = types.StringValue("")
	}
	if m.ForceDestroy.IsNull() {
		m.ForceDestroy = types.BoolValue(false)
	}
	drift, err := readBucketProtections(ctx, c, &m)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the bucket's protections", err.Error())
		return
	}
	m.Drift = driftList(ctx, drift)
	b := m.guardBucket()
	m.ARN, m.AgentPolicyJSON = types.StringValue(b.ARN()), types.StringValue(b.AgentPolicy())
	if m.Findings.IsNull() {
		m.Findings = warningStrings(guard.CheckBackupBucket(b))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// tagBucket sets one tag, keeping the bucket's other tags.
func tagBucket(ctx context.Context, c *s3.Client, bucket, key, value string) error {
	tags, err := bucketTags(ctx, c, bucket)
	if err != nil {
		return err
	}
	if v, ok := tags[key]; ok && v == value {
		return nil
	}
	tags[key] = value
	set := make([]s3types.Tag, 0, len(tags))
	for k, v := range tags {
		set = append(set, s3types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(bucket), Tagging: &s3types.Tagging{TagSet: set}}); err != nil {
		return fmt.Errorf("PutBucketTagging %s: %w", bucket, err)
	}
	return nil
}

func bucketTags(ctx context.Context, c *s3.Client, bucket string) (map[string]string, error) {
	out, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
	tags := map[string]string{}
	if err != nil {
		if isAWSErrorCode(err, "NoSuchTagSet", "NoSuchTagSetError") {
			return tags, nil
		}
		return nil, fmt.Errorf("GetBucketTagging %s: %w", bucket, err)
	}
	for _, t := range out.TagSet {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

// readBucketProtections copies the configurable settings into m and
// returns what is missing or changed among the fixed protections.
func readBucketProtections(ctx context.Context, c *s3.Client, m *etcdBackupBucketModel) ([]string, error) {
	name := aws.String(m.Bucket.ValueString())
	var drift []string
	missing := func(err error, codes ...string) bool { return isAWSErrorCode(err, codes...) }

	tags, err := bucketTags(ctx, c, m.Bucket.ValueString())
	if err != nil {
		return nil, err
	}
	if p, ok := tags[tagAgentPrefix]; ok {
		m.AgentPrefix = types.StringValue(p)
	}

	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: name})
	if err != nil {
		return nil, fmt.Errorf("GetBucketVersioning: %w", err)
	}
	if v.Status != s3types.BucketVersioningStatusEnabled {
		drift = append(drift, fmt.Sprintf("versioning is %q, not Enabled", v.Status))
	}

	lock, err := c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: name})
	switch {
	case missing(err, "ObjectLockConfigurationNotFoundError"):
		drift = append(drift, "Object Lock is not enabled: apply turns it on with the default retention (S3 allows that on an existing versioned bucket; it can never be turned off)")
	case err != nil:
		return nil, fmt.Errorf("GetObjectLockConfiguration: %w", err)
	case lock.ObjectLockConfiguration.Rule == nil || lock.ObjectLockConfiguration.Rule.DefaultRetention == nil:
		drift = append(drift, "Object Lock has no default retention")
	default:
		r := lock.ObjectLockConfiguration.Rule.DefaultRetention
		m.ObjectLockMode = types.StringValue(string(r.Mode))
		m.RetentionDays = types.Int64Value(int64(aws.ToInt32(r.Days)) + 365*int64(aws.ToInt32(r.Years)))
	}

	enc, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: name})
	switch {
	case missing(err, "ServerSideEncryptionConfigurationNotFoundError"):
		drift = append(drift, "default encryption is off")
	case err != nil:
		return nil, fmt.Errorf("GetBucketEncryption: %w", err)
	case len(enc.ServerSideEncryptionConfiguration.Rules) == 0 || enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault == nil:
		drift = append(drift, "default encryption has no rule")
	default:
		d := enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault
		if d.SSEAlgorithm == s3types.ServerSideEncryptionAwsKms {
			m.KMSKeyID = types.StringPointerValue(d.KMSMasterKeyID)
		} else {
			m.KMSKeyID = types.StringNull()
		}
	}

	pab, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: name})
	switch {
	case missing(err, "NoSuchPublicAccessBlockConfiguration"):
		drift = append(drift, "the public access block is missing")
	case err != nil:
		return nil, fmt.Errorf("GetPublicAccessBlock: %w", err)
	default:
		p := pab.PublicAccessBlockConfiguration
		if !aws.ToBool(p.BlockPublicAcls) || !aws.ToBool(p.IgnorePublicAcls) || !aws.ToBool(p.BlockPublicPolicy) || !aws.ToBool(p.RestrictPublicBuckets) {
			drift = append(drift, "not all four public access blocks are on")
		}
	}

	pol, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: name})
	switch {
	case missing(err, "NoSuchBucketPolicy"):
		drift = append(drift, "the bucket policy (TLS only, encrypted uploads only) is missing")
	case err != nil:
		return nil, fmt.Errorf("GetBucketPolicy: %w", err)
	case !sameJSON(aws.ToString(pol.Policy), m.guardBucket().BucketPolicy()):
		drift = append(drift, "the bucket policy was changed")
	}

	lc, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: name})
	switch {
	case missing(err, "NoSuchLifecycleConfiguration"):
		drift = append(drift, "the lifecycle (noncurrent expiry, multipart abort) is missing")
	case err != nil:
		return nil, fmt.Errorf("GetBucketLifecycleConfiguration: %w", err)
	default:
		found := false
		for _, rule := range lc.Rules {
			if aws.ToString(rule.ID) != lifecycleRuleID {
				// Any other rule can expire snapshots behind the agent's
				// retention (a bucket policy cannot stop a lifecycle
				// deletion): apply puts back k8sguard's rule alone.
				if rule.Status == s3types.ExpirationStatusEnabled {
					drift = append(drift, fmt.Sprintf("a lifecycle rule %q was added: it can expire snapshots behind etcdguard's retention", aws.ToString(rule.ID)))
				}
				continue
			}
			found = true
			if rule.NoncurrentVersionExpiration != nil {
				m.NoncurrentDays = types.Int64Value(int64(aws.ToInt32(rule.NoncurrentVersionExpiration.NoncurrentDays)))
			}
			if rule.Status != s3types.ExpirationStatusEnabled || rule.AbortIncompleteMultipartUpload == nil ||
				aws.ToInt32(rule.AbortIncompleteMultipartUpload.DaysAfterInitiation) != 1 || rule.NoncurrentVersionExpiration == nil ||
				expires(rule.Expiration) || len(rule.Transitions) > 0 || len(rule.NoncurrentVersionTransitions) > 0 {
				drift = append(drift, "the lifecycle rule was changed")
			}
		}
		if !found {
			drift = append(drift, "the lifecycle rule "+lifecycleRuleID+" is missing")
		}
	}
	return drift, nil
}

// expires reports whether a lifecycle rule's Expiration deletes anything
// (S3 may send an empty one).
func expires(e *s3types.LifecycleExpiration) bool {
	return e != nil && (aws.ToInt32(e.Days) > 0 || e.Date != nil || aws.ToBool(e.ExpiredObjectDeleteMarker))
}

// sameJSON compares two JSON documents by value (S3 may reformat policies).
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func (r *etcdBackupBucketResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m etcdBackupBucketModel
	c, ok := modelAndClient(ctx, req.Plan, &m, &resp.Diagnostics, r.s3)
	if !ok {
		return
	}
	if err := applyBucketProtections(ctx, c, m.guardBucket()); err != nil {
		resp.Diagnostics.AddError("Cannot restore the bucket's protections", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *etcdBackupBucketResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m etcdBackupBucketModel
	c, ok := modelAndClient(ctx, req.State, &m, &resp.Diagnostics, r.s3)
	if !ok {
		return
	}
	name := m.Bucket.ValueString()
	versions, err := listAllVersions(ctx, c, name)
	if err != nil {
		resp.Diagnostics.AddError("Cannot list the bucket's objects", err.Error())
		return
	}
	if len(versions) > 0 && !m.ForceDestroy.ValueBool() {
		resp.Diagnostics.AddAttributeError(path.Root("force_destroy"), "The etcd backup bucket is not empty",
			fmt.Sprintf("bucket %s holds %d object versions (for example %q): they may be the only copy of the cluster. "+
				"Restore or copy what you need, then set force_destroy = true and apply before destroying.", name, len(versions), aws.ToString(versions[0].Key)))
		return
	}
	// The bucket is going away: drop its policy first. Its TLS-only
	// statement would otherwise also block deletes from S3-compatible
	// endpoints served over plain HTTP (moto).
	if _, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(name)}); err != nil && !isAWSErrorCode(err, "NoSuchBucketPolicy") {
		resp.Diagnostics.AddError("Cannot remove the bucket policy before deleting", fmt.Sprintf("%s: %v", name, err))
		return
	}
	// A destroy that fails from here on keeps the bucket, and with it the
	// snapshots that could not be deleted: it must not keep them without
	// the policy, so the policy is put back before reporting the failure.
	restorePolicy := func() {
		if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(name), Policy: aws.String(m.guardBucket().BucketPolicy())}); err != nil {
			resp.Diagnostics.AddError("Cannot restore the bucket policy after the failed destroy",
				fmt.Sprintf("%s: %v. The bucket has no TLS-only, encrypted-uploads-only policy until the next apply.", name, err))
		}
	}
	for _, v := range versions {
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(name), Key: v.Key, VersionId: v.VersionId, BypassGovernanceRetention: aws.Bool(true)})
		if err != nil {
			resp.Diagnostics.AddError("Cannot delete a locked snapshot version",
				fmt.Sprintf("%s/%s version %s: %v. COMPLIANCE-mode versions cannot be deleted before their retention ends.", name, aws.ToString(v.Key), aws.ToString(v.VersionId), err))
			restorePolicy()
			return
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil && !isAWSNotFound(err) {
		resp.Diagnostics.AddError("Cannot delete the bucket", fmt.Sprintf("DeleteBucket %s: %v", name, err))
		restorePolicy()
	}
}

// listAllVersions returns every object version and delete marker.
func listAllVersions(ctx context.Context, c *s3.Client, bucket string) ([]s3types.ObjectIdentifier, error) {
	var out []s3types.ObjectIdentifier
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)}
	for {
		page, err := c.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("ListObjectVersions %s: %w", bucket, err)
		}
		for _, v := range page.Versions {
			out = append(out, s3types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, d := range page.DeleteMarkers {
			out = append(out, s3types.ObjectIdentifier{Key: d.Key, VersionId: d.VersionId})
		}
		if !aws.ToBool(page.IsTruncated) {
			return out, nil
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
}

// ImportState takes the bucket name.
func (r *etcdBackupBucketResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

func bucketExistsDetail(name string) string {
	return fmt.Sprintf("bucket %s already exists in this account and was left as it is. To manage it here, import it "+
		"(terraform import <address> %s): the next plan then shows the protections apply would change. Otherwise choose another name.", name, name)
}
