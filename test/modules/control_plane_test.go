package modules_test

import (
	"context"
	"encoding/base64"
	"github.com/k8sguard/k8sguard/test/infra"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
)

const controlPlaneFixture = "test/modules/testdata/control_plane"

func pool(maxSize int, labels map[string]string) map[string]any {
	return map[string]any{
		"instance_types": []string{"m6i.large"}, "min_size": 1, "desired_size": 1,
		"max_size": maxSize, "max_pods_per_node": 110, "labels": labels,
	}
}

// TestControlPlaneModuleOnMoto applies the control-plane module (with the
// etcd-backup module's cloud-init) on moto: the launch template's user data
// installs etcdguard and then runs the bootstrap, two node pools share the
// pod range 10.64.0.0/20 (16 node blocks of /24 at 110 pods) exactly, a
// plan is then empty, and one more node in either pool, or a T2 control
// plane, is refused at plan with the rule ID.
func TestControlPlaneModuleOnMoto(t *testing.T) {
	tg := fixture.Moto(t)
	ctx := context.Background()
	subnets := tg.Network(t, "10.30.0.0/16", "10.30.0.0/24", "10.30.1.0/24")
	cluster := fixture.Unique("prod")
	tg.Cluster(t, cluster, subnets)

	// The batch pool is tainted: the module passes taints through a dynamic
	// block, which must survive Terraform's validation with unknown inputs.
	batch := pool(6, map[string]string{"workload": "batch"})
	batch["taints"] = []map[string]any{{"key": "workload", "value": "batch", "effect": "NO_SCHEDULE"}}
	opts := tg.Terraform(t, controlPlaneFixture, map[string]any{
		"cluster_name": cluster,
		"bucket_name":  fixture.Unique("etcd-cp"),
		"subnet_ids":   subnets,
		"node_pools": map[string]any{
			"general": pool(10, map[string]string{"workload": "general"}),
			"batch":   batch,
		},
	})
	t.Cleanup(func() { terraform.DestroyContext(t, context.Background(), opts) })
	terraform.InitAndApplyContext(t, t.Context(), opts)

	if got := terraform.OutputContext(t, t.Context(), opts, "pod_range_max_nodes"); got != "16" {
		t.Errorf("pod_range_max_nodes = %s, want 16 (/20 in /24 node blocks)", got)
	}

	// The control-plane user data: etcdguard first, then the bootstrap.
	ltID := terraform.OutputContext(t, t.Context(), opts, "launch_template_id")
	v, err := tg.EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: aws.String(ltID), Versions: []string{"$Default"},
	})
	if err != nil || len(v.LaunchTemplateVersions) != 1 {
		t.Fatalf("DescribeLaunchTemplateVersions %s: %v", ltID, err)
	}
	ud, err := base64.StdEncoding.DecodeString(aws.ToString(v.LaunchTemplateVersions[0].LaunchTemplateData.UserData))
	if err != nil {
		t.Fatalf("user data of %s is not base64: %v", ltID, err)
	}
	userData := string(ud)
	config := terraform.OutputContext(t, t.Context(), opts, "etcdguard_config")
	for _, want := range []string{
		`Content-Type: multipart/mixed; boundary="==k8sguard-control-plane=="`,
		"Content-Type: text/cloud-config",
		"#cloud-config",
		"/etc/etcdguard/config.yaml",
		"etcdguard.service",
		// kubeadm's client key is root-only; the dynamic user gets a group.
		"/etc/systemd/system/etcdguard.service.d/10-etcd-client-key.conf",
		"SupplementaryGroups=etcd-backup",
		"chgrp etcd-backup /etc/kubernetes/pki/etcd/healthcheck-client.key && chmod 0640 /etc/kubernetes/pki/etcd/healthcheck-client.key",
		"Content-Type: text/x-shellscript",
		"#!/bin/sh\n/opt/bootstrap/control-plane.sh",
		"--==k8sguard-control-plane==--",
	} {
		// squash: YAML folds long strings over lines.
		if !strings.Contains(userData, want) && !strings.Contains(infra.Unwrap(userData), want) {
			t.Errorf("control-plane user data lacks %q:\n%s", want, userData)
		}
	}
	if strings.Index(userData, "text/cloud-config") > strings.Index(userData, "text/x-shellscript") {
		t.Errorf("control-plane user data: the bootstrap part comes before the etcdguard cloud-config")
	}
	if !strings.Contains(userData, "s3://") || !strings.Contains(config, cluster) {
		t.Errorf("etcdguard configuration in user data does not name the bucket and cluster %s", cluster)
	}

	// The node pools, as EKS sees them.
	for name, maxSize := range map[string]int32{"general": 10, "batch": 6} {
		ng, err := tg.EKS.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)})
		if err != nil {
			t.Fatalf("node group %s: %v", name, err)
		}
		if got := aws.ToInt32(ng.Nodegroup.ScalingConfig.MaxSize); got != maxSize {
			t.Errorf("node group %s max size = %d, want %d", name, got, maxSize)
		}
		if ng.Nodegroup.Labels["workload"] != name {
			t.Errorf("node group %s labels = %v, want workload=%s", name, ng.Nodegroup.Labels, name)
		}
		wantTaints := 0
		if name == "batch" {
			wantTaints = 1
		}
		if len(ng.Nodegroup.Taints) != wantTaints {
			t.Errorf("node group %s taints = %+v, want %d", name, ng.Nodegroup.Taints, wantTaints)
		} else if wantTaints == 1 && (aws.ToString(ng.Nodegroup.Taints[0].Key) != "workload" || ng.Nodegroup.Taints[0].Effect != "NO_SCHEDULE") {
			t.Errorf("node group batch taint = %+v, want workload=batch:NO_SCHEDULE", ng.Nodegroup.Taints[0])
		}
	}

	infra.ExpectNoChanges(t, opts, "after apply")

	t.Run("pools together beyond the pod range are refused", func(t *testing.T) {
		opts.Vars["node_pools"] = map[string]any{
			"general": pool(10, map[string]string{"workload": "general"}),
			"batch":   pool(7, map[string]string{"workload": "batch"}),
		}
		defer func() {
			opts.Vars["node_pools"] = map[string]any{
				"general": pool(10, map[string]string{"workload": "general"}),
				"batch":   pool(6, map[string]string{"workload": "batch"}),
			}
		}()
		expectPlanError(t, opts, "[POOL_EXCEEDS_POD_RANGE] the node pools' max_size add up to 17 nodes (batch 7, general 10), but pod_cidr 10.64.0.0/20 holds 16 node blocks of 256 addresses (reserved_nodes 0): lower max_size or widen the pod range.")
	})
	t.Run("T2 control plane is refused", func(t *testing.T) {
		opts.Vars["instance_type"] = "t2.large"
		defer delete(opts.Vars, "instance_type")
		expectPlanError(t, opts, "[INSTANCE_T2] t2.large is a T2 instance")
	})
}
