# Plan-only checks of every input validation (terraform test; the provider
# is mocked: these are Terraform's own checks, before any AWS call). The
# provider's plan-time rules and the apply against moto are test/modules'
# terratest.

mock_provider "k8sguard" {}

variables {
  cluster_name  = "prod-eu1"
  node_role_arn = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids    = ["subnet-0123456789abcdef0"]
  control_plane = {
    instance_type = "m6i.large"
    image_id      = "ami-12c6146b"
  }
  node_pools = {
    general = { instance_types = ["m6i.large"], min_size = 1, desired_size = 2, max_size = 10, max_pods_per_node = 110 }
  }
}

run "valid_inputs_plan" {
  command = plan

  assert {
    condition     = k8sguard_control_plane_launch_template.this.name == "prod-eu1-control-plane"
    error_message = "The launch template is named after the cluster."
  }
}

run "gp3_etcd_volume_gets_its_defaults" {
  command = plan

  assert {
    condition     = k8sguard_control_plane_launch_template.this.etcd_volume.iops == 6000 && k8sguard_control_plane_launch_template.this.etcd_volume.throughput_mibps == 250
    error_message = "A gp3 etcd volume gets 6000 IOPS and 250 MiB/s by default."
  }
}

run "io2_etcd_volume_gets_no_gp3_settings" {
  command = plan
  variables {
    control_plane = {
      instance_type = "m6i.large"
      image_id      = "ami-12c6146b"
      etcd_volume   = { type = "io2", iops = 10000 }
    }
  }

  assert {
    condition     = k8sguard_control_plane_launch_template.this.etcd_volume.iops == 10000 && k8sguard_control_plane_launch_template.this.etcd_volume.throughput_mibps == null
    error_message = "An io2 etcd volume gets its iops and no throughput (a gp3-only setting EC2 refuses elsewhere)."
  }
}

# node_cidr mode: the module checks its pools together against the pod
# range. The data source is mocked to a /22 at 110 pods per node (4 node
# blocks); the pools' max_size add up to 10.
run "pools_beyond_the_pod_range" {
  command = plan
  variables {
    pod_ip_mode = "node_cidr"
    pod_cidr    = "10.64.0.0/22"
  }
  override_data {
    target = data.k8sguard_pod_ip_capacity.pods
    values = { max_nodes = 4, pod_ips_per_node = 256 }
  }
  expect_failures = [k8sguard_node_pool.this]
}

run "pools_within_the_pod_range" {
  command = plan
  variables {
    pod_ip_mode = "node_cidr"
    pod_cidr    = "10.64.0.0/16"
  }
  override_data {
    target = data.k8sguard_pod_ip_capacity.pods
    values = { max_nodes = 256, pod_ips_per_node = 256 }
  }
  assert {
    condition     = output.pod_range_max_nodes == 256
    error_message = "pod_range_max_nodes comes from the capacity data source."
  }
}

run "cluster_name_with_a_slash" {
  command = plan
  variables { cluster_name = "prod/eu1" }
  expect_failures = [var.cluster_name]
}

run "image_id_that_is_not_an_ami" {
  command = plan
  variables {
    control_plane = { instance_type = "m6i.large", image_id = "ubuntu-22.04" }
  }
  expect_failures = [var.control_plane]
}

run "root_volume_too_small" {
  command = plan
  variables {
    control_plane = { instance_type = "m6i.large", image_id = "ami-12c6146b", root_volume_gib = 4 }
  }
  expect_failures = [var.control_plane]
}

run "user_data_that_is_not_cloud_config" {
  command = plan
  variables { etcd_backup_cloud_init = "#!/bin/sh\n" }
  expect_failures = [var.etcd_backup_cloud_init]
}

run "bootstrap_without_shebang" {
  command = plan
  variables { bootstrap_script = "kubeadm join" }
  expect_failures = [var.bootstrap_script]
}

run "no_subnets" {
  command = plan
  variables { subnet_ids = [] }
  expect_failures = [var.subnet_ids]
}

run "unknown_pod_ip_mode" {
  command = plan
  variables { pod_ip_mode = "calico" }
  expect_failures = [var.pod_ip_mode]
}

run "pod_cidr_without_prefix_length" {
  command = plan
  variables { pod_cidr = "10.64.0.0" }
  expect_failures = [var.pod_cidr]
}

run "negative_reserved_nodes" {
  command = plan
  variables { reserved_nodes = -1 }
  expect_failures = [var.reserved_nodes]
}

run "pool_sizes_out_of_order" {
  command = plan
  variables {
    node_pools = { general = { instance_types = ["m6i.large"], min_size = 3, desired_size = 2, max_size = 10, max_pods_per_node = 110 } }
  }
  expect_failures = [var.node_pools]
}

run "max_pods_above_250" {
  command = plan
  variables {
    node_pools = { general = { instance_types = ["m6i.large"], min_size = 1, desired_size = 1, max_size = 10, max_pods_per_node = 500 } }
  }
  expect_failures = [var.node_pools]
}

run "taint_effect_in_kubernetes_spelling" {
  command = plan
  variables {
    node_pools = { general = {
      instance_types = ["m6i.large"], min_size = 1, desired_size = 1, max_size = 10, max_pods_per_node = 110
      taints         = [{ key = "dedicated", value = "etcd", effect = "NoSchedule" }]
    } }
  }
  expect_failures = [var.node_pools]
}

run "pool_without_instance_types" {
  command = plan
  variables {
    node_pools = { general = { instance_types = [], min_size = 1, desired_size = 1, max_size = 10, max_pods_per_node = 110 } }
  }
  expect_failures = [var.node_pools]
}
