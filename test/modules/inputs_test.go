package modules_test

import (
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestModuleInputsRefusedAtPlan: each module input that can be wrong is
// refused at plan with a message naming it, before any API call (the
// provider has no cluster and no AWS here).
func TestModuleInputsRefusedAtPlan(t *testing.T) {
	pools := func(minSize, desired, maxSize, maxPods int) map[string]any {
		return map[string]any{"general": map[string]any{
			"instance_types": []string{"m6i.large"}, "min_size": minSize, "desired_size": desired,
			"max_size": maxSize, "max_pods_per_node": maxPods,
		}}
	}
	for name, tc := range map[string]struct {
		vars map[string]any
		want string
	}{
		"cluster name with a slash": {map[string]any{"cluster_name": "prod/eu1"},
			"cluster_name must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit (etcdguard uses it as a key segment)."},
		"bucket name with capitals": {map[string]any{"bucket_name": "Prod-Backups"},
			"bucket_name must be a valid S3 bucket name: 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit."},
		"absolute prefix": {map[string]any{"prefix": "/prod/"},
			`prefix must be a relative S3 key prefix such as "prod/" (no leading '/', no empty segments).`},
		"interval without unit": {map[string]any{"schedule_interval": "30"},
			"schedule_interval must be a duration with a unit such as 30m, 1h or 90s."},
		"shrink ratio above 1": {map[string]any{"check_shrink_ratio": 1.5},
			"check_shrink_ratio must be in (0, 1]."},
		"fractional retention": {map[string]any{"retention_days": 7.5},
			"retention_days must be a whole number of days, at least 1."},
		"unknown mode": {map[string]any{"mode": "cron"},
			`mode must be "agent" or "timer".`},
		"etcd endpoint without scheme": {map[string]any{"etcd_endpoints": []string{"127.0.0.1:2379"}},
			"etcd_endpoints needs at least one etcd client URL such as https://127.0.0.1:2379."},
		"download over http": {map[string]any{"etcdguard_download": map[string]any{"url": "http://example.com/etcdguard", "sha256": "0000000000000000000000000000000000000000000000000000000000000000"}},
			"etcdguard_download needs an https:// url and the binary's sha256 as 64 lower-case hex digits."},
		"key group with a space": {map[string]any{"etcd_key_group": "etcd backup"},
			"etcd_key_group must be a Linux group name: lower-case letters, digits, '_' or '-', at most 32 characters."},
		"image id": {map[string]any{"image_id": "ubuntu-22.04"},
			"control_plane.image_id must be an AMI ID (ami-...)."},
		"bootstrap without shebang": {map[string]any{"bootstrap_script": "kubeadm join"},
			"bootstrap_script must be a script starting with #! (for example #!/bin/sh)."},
		"user data that is not cloud-config": {map[string]any{"cloud_init": "#!/bin/sh\n"},
			"etcd_backup_cloud_init must be a #cloud-config document (the etcd-backup module's cloud_init output)."},
		"pod ip mode": {map[string]any{"pod_ip_mode": "calico"},
			"pod_ip_mode must be vpc_cni, vpc_cni_prefix or node_cidr."},
		"pod cidr": {map[string]any{"pod_cidr": "10.64.0.0"},
			"pod_cidr must be an IPv4 CIDR such as 10.64.0.0/16."},
		"sizes out of order": {map[string]any{"node_pools": pools(3, 2, 10, 110)},
			"Every node pool needs 0 <= min_size <= desired_size <= max_size, and max_size >= 1."},
		"max pods above 250": {map[string]any{"node_pools": pools(1, 1, 10, 500)},
			"max_pods_per_node must be between 1 and 250."},
		"pools beyond the pod range": {map[string]any{"pod_cidr": "10.64.0.0/22", "node_pools": pools(1, 1, 5, 110)},
			"[POOL_EXCEEDS_POD_RANGE] the node pools' max_size add up to 5 nodes (general 5), but pod_cidr 10.64.0.0/22 holds 4 node blocks of 256 addresses (reserved_nodes 0): lower max_size or widen the pod range."},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			expectPlanError(t, infra.Terraform(t, "test/modules/testdata/inputs", tc.vars), tc.want)
		})
	}
}
