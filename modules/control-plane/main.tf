locals {
  # cloud-init runs a multipart user data part by part: the etcd-backup
  # cloud-config, then the node's own bootstrap script.
  boundary = "==k8sguard-control-plane=="
  user_data_parts = concat(
    var.etcd_backup_cloud_init == null ? [] : [{ type = "text/cloud-config", body = var.etcd_backup_cloud_init }],
    var.bootstrap_script == null ? [] : [{ type = "text/x-shellscript", body = var.bootstrap_script }],
  )
  user_data = (
    length(local.user_data_parts) == 0 ? null :
    length(local.user_data_parts) == 1 ? local.user_data_parts[0].body :
    join("", concat(
      ["Content-Type: multipart/mixed; boundary=\"${local.boundary}\"\nMIME-Version: 1.0\n"],
      [for p in local.user_data_parts : "\n--${local.boundary}\nContent-Type: ${p.type}; charset=\"utf-8\"\n\n${trimsuffix(p.body, "\n")}\n"],
      ["\n--${local.boundary}--\n"],
    ))
  )

  # node_cidr mode: every pool draws node blocks from the same pod range;
  # the node block fits the pool with the most pods per node.
  max_pods_per_node = max(concat([1], [for p in var.node_pools : p.max_pods_per_node])...)
  total_max_size    = sum(concat([0], [for p in var.node_pools : p.max_size]))
}

resource "k8sguard_control_plane_launch_template" "this" {
  name                 = "${var.cluster_name}-control-plane"
  instance_type        = var.control_plane.instance_type
  image_id             = var.control_plane.image_id
  security_group_ids   = length(var.control_plane.security_group_ids) == 0 ? null : var.control_plane.security_group_ids # the API reads no groups back as null, not []
  iam_instance_profile = var.control_plane.iam_instance_profile
  user_data            = local.user_data
  tags                 = merge({ cluster = var.cluster_name }, var.control_plane.tags)
  waivers              = var.control_plane.waivers

  root_volume {
    size_gib = var.control_plane.root_volume_gib
    type     = "gp3"
  }

  etcd_volume {
    size_gib         = var.control_plane.etcd_volume.size_gib
    type             = var.control_plane.etcd_volume.type
    iops             = local.etcd_volume.iops
    throughput_mibps = local.etcd_volume.throughput_mibps
    device_name      = var.control_plane.etcd_volume.device_name
  }
}

locals {
  # gp3 gets 6000 IOPS and 250 MiB/s unless told otherwise; the other types
  # only what is given (EC2 refuses throughput on them, and IOPS on gp2).
  etcd_volume = {
    iops             = var.control_plane.etcd_volume.iops != null ? var.control_plane.etcd_volume.iops : (var.control_plane.etcd_volume.type == "gp3" ? 6000 : null)
    throughput_mibps = var.control_plane.etcd_volume.throughput_mibps != null ? var.control_plane.etcd_volume.throughput_mibps : (var.control_plane.etcd_volume.type == "gp3" ? 250 : null)
  }
}

# node_cidr mode only: how many node blocks pod_cidr holds.
data "k8sguard_pod_ip_capacity" "pods" {
  count = var.pod_ip_mode == "node_cidr" ? 1 : 0

  pod_cidr          = var.pod_cidr
  max_pods_per_node = local.max_pods_per_node
  reserved_nodes    = var.reserved_nodes

  lifecycle {
    precondition {
      condition     = var.pod_cidr != null
      error_message = "pod_ip_mode \"node_cidr\" needs pod_cidr (the cluster's --cluster-cidr)."
    }
  }
}

resource "k8sguard_node_pool" "this" {
  for_each = var.node_pools

  cluster_name      = var.cluster_name
  name              = each.key
  node_role_arn     = var.node_role_arn
  subnet_ids        = coalesce(each.value.subnet_ids, var.subnet_ids)
  instance_types    = each.value.instance_types
  min_size          = each.value.min_size
  desired_size      = each.value.desired_size
  max_size          = each.value.max_size
  max_pods_per_node = each.value.max_pods_per_node
  pod_ip_mode       = var.pod_ip_mode
  pod_cidr          = var.pod_ip_mode == "node_cidr" ? var.pod_cidr : null
  labels            = each.value.labels
  tags              = each.value.tags
  waivers           = each.value.waivers

  dynamic "taint" {
    for_each = each.value.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = taint.value.effect
    }
  }

  lifecycle {
    # The provider checks each pool against the pools that already exist;
    # pools created in the same apply do not exist yet, so the module checks
    # its own pools together (the Love Holidays outage: the pod range ran out
    # of node blocks and half the pods stayed Pending). Terraform 1.11's ||
    # does not short-circuit: without the try() the vpc_cni modes (no
    # capacity data source) fail on an invalid index.
    precondition {
      condition     = var.pod_ip_mode != "node_cidr" || local.total_max_size <= try(data.k8sguard_pod_ip_capacity.pods[0].max_nodes, local.total_max_size)
      error_message = "[POOL_EXCEEDS_POD_RANGE] the node pools' max_size add up to ${local.total_max_size} nodes (${join(", ", [for n, p in var.node_pools : "${n} ${p.max_size}"])}), but pod_cidr ${coalesce(var.pod_cidr, "-")} holds ${try(data.k8sguard_pod_ip_capacity.pods[0].max_nodes, 0)} node blocks of ${try(data.k8sguard_pod_ip_capacity.pods[0].pod_ips_per_node, 0)} addresses (reserved_nodes ${var.reserved_nodes}): lower max_size or widen the pod range."
    }
  }
}
