package provider

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

const nodeCIDRPool = `
resource "k8sguard_node_pool" "general" {
  cluster_name        = "prod"
  name                = "general"
  node_role_arn       = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids          = ["subnet-a"]
  instance_types      = ["m6i.large"]
  min_size            = 1
  desired_size        = 3
  max_pods_per_node   = 110
  pod_ip_mode         = "node_cidr"
  pod_cidr            = "10.64.0.0/20"
  %s
}
`

// Node-CIDR sizing of the pool alone needs no AWS: these plans fail in
// validation, before any API call (the provider points at a closed port).
func TestNodePoolRefusedAtPlanWithoutAWS(t *testing.T) {
	withoutAWSCredentials(t)
	cases := []struct{ name, body, want string }{
		{"max_size beyond the pod range", "max_size = 17",
			`\[POOL_EXCEEDS_POD_RANGE\] max_size 17 needs 17 node blocks of /24, but 10.64.0.0/20 holds 16 \(2\^\(24-20\)\): at most 16 nodes fit in this pool`},
		{"node block too small", "max_size = 3\n  node_cidr_mask_size = 26",
			`\[POOL_MAX_PODS_ABOVE_NODE_BLOCK\] max_pods_per_node 110 needs 112 addresses per node`},
		{"sizes out of order", "max_size = 2",
			`need min_size <= desired_size <= max_size, got 1, 3, 2`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			planOnly(t, noCloudProvider+strings.Replace(nodeCIDRPool, "%s", c.body, 1), wrapped(c.want))
		})
	}
	t.Run("pod_cidr outside node_cidr mode", func(t *testing.T) {
		cfg := strings.Replace(nodeCIDRPool, `pod_ip_mode         = "node_cidr"`, `pod_ip_mode         = "vpc_cni"`, 1)
		planOnly(t, noCloudProvider+strings.Replace(cfg, "%s", "max_size = 3", 1), wrapped(`pod_cidr only applies in node_cidr mode`))
	})
	t.Run("taints from a dynamic block over a variable", func(t *testing.T) {
		// Terraform validates with variables unknown; the taint list is then
		// unknown and must not be a conversion error (modules/control-plane).
		body := `max_size = 17
  dynamic "taint" {
    for_each = var.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = taint.value.effect
    }
  }`
		vars := `variable "taints" {
  type    = list(object({ key = string, value = string, effect = string }))
  default = [{ key = "dedicated", value = "etcd", effect = "NO_SCHEDULE" }]
}
`
		planOnly(t, noCloudProvider+vars+strings.Replace(nodeCIDRPool, "%s", body, 1),
			wrapped(`\[POOL_EXCEEDS_POD_RANGE\] max_size 17 needs 17 node blocks`))
	})
	t.Run("a waiver turns the range error into a warning, still no AWS call at validate", func(t *testing.T) {
		// With the waiver, validation passes and plan needs AWS for the
		// sibling pools: the closed port proves the error came after validate.
		planOnly(t, noCloudProvider+strings.Replace(nodeCIDRPool, "%s", `max_size = 17
  waivers = { POOL_EXCEEDS_POD_RANGE = "spare node, never scaled to" }`, 1), wrapped(`Cannot size node pool general`))
	})
}

func TestNodeUserDataSetsMaxPods(t *testing.T) {
	b, err := base64.StdEncoding.DecodeString(nodeUserData(58))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"Content-Type: multipart/mixed; boundary=\"//\"", "Content-Type: application/node.eks.aws", "kind: NodeConfig", "      maxPods: 58\n", "--//--"} {
		if !strings.Contains(s, want) {
			t.Errorf("user data lacks %q:\n%s", want, s)
		}
	}
}

// launchTemplateDataEqual decides whether an update adds a template version
// (and rolls every node): it must say "equal" exactly when the data the
// version would hold is equal, so a tags-only edit no longer adds an
// identical version, and a max_pods edit always does.
func TestLaunchTemplateDataEqualMatchesTheData(t *testing.T) {
	tags := func(kv ...string) types.Map {
		m := map[string]attr.Value{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = types.StringValue(kv[i+1])
		}
		return types.MapValueMust(types.StringType, m)
	}
	base := nodePoolModel{MaxPodsPerNode: types.Int64Value(20), PodIPMode: types.StringValue("node_cidr"), PodCIDR: types.StringValue("10.244.0.0/16"), Tags: tags("team", "a"),
		InstanceTypes: types.ListValueMust(types.StringType, []attr.Value{types.StringValue("m6i.large")}), MaxSize: types.Int64Value(3)}
	edits := map[string]func(m *nodePoolModel){
		"tags":        func(m *nodePoolModel) { m.Tags = tags("team", "b", "owner", "sre") },
		"no tags":     func(m *nodePoolModel) { m.Tags = types.MapNull(types.StringType) },
		"pod_cidr":    func(m *nodePoolModel) { m.PodCIDR = types.StringValue("10.96.0.0/12") },
		"pod_ip_mode": func(m *nodePoolModel) { m.PodIPMode = types.StringValue("vpc_cni") },
		"max_size":    func(m *nodePoolModel) { m.MaxSize = types.Int64Value(9) },
		"instance_types": func(m *nodePoolModel) {
			m.InstanceTypes = types.ListValueMust(types.StringType, []attr.Value{types.StringValue("m7i.large")})
		},
		"max_pods":      func(m *nodePoolModel) { m.MaxPodsPerNode = types.Int64Value(58) },
		"max_pods+tags": func(m *nodePoolModel) { m.MaxPodsPerNode, m.Tags = types.Int64Value(110), tags() },
	}
	for name, edit := range edits {
		b := base
		edit(&b)
		dataEqual := reflect.DeepEqual(base.launchTemplateData(), b.launchTemplateData())
		if got := launchTemplateDataEqual(&base, &b); got != dataEqual {
			t.Errorf("%s edit: launchTemplateDataEqual = %v, but the template data equal = %v", name, got, dataEqual)
		}
	}
}

func TestTagDiff(t *testing.T) {
	add, remove := tagDiff(map[string]string{"a": "1", "b": "2", "c": "3"}, map[string]string{"a": "1", "b": "20", "d": "4"})
	if !reflect.DeepEqual(add, map[string]string{"b": "20", "d": "4"}) || !reflect.DeepEqual(remove, []string{"c"}) {
		t.Fatalf("add %v remove %v", add, remove)
	}
}

func TestDiffTaints(t *testing.T) {
	taint := func(k, v string, e ekstypes.TaintEffect) ekstypes.Taint {
		return ekstypes.Taint{Key: aws.String(k), Value: aws.String(v), Effect: e}
	}
	old := []ekstypes.Taint{taint("a", "1", ekstypes.TaintEffectNoSchedule), taint("b", "1", ekstypes.TaintEffectNoExecute)}
	new := []ekstypes.Taint{taint("a", "1", ekstypes.TaintEffectNoSchedule), taint("b", "2", ekstypes.TaintEffectNoExecute)}
	// A new value is an update only: EKS knows taints by key and effect,
	// so removing b=1 would remove the updated b=2 as well.
	add, remove := diffTaints(old, new)
	if len(add) != 1 || aws.ToString(add[0].Value) != "2" || len(remove) != 0 {
		t.Fatalf("add %+v remove %+v", add, remove)
	}
	// A taint whose key and effect are gone is removed.
	add, remove = diffTaints(old, new[:1])
	if len(add) != 0 || len(remove) != 1 || aws.ToString(remove[0].Key) != "b" {
		t.Fatalf("add %+v remove %+v", add, remove)
	}
}
