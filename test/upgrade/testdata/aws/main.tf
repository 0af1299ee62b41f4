# Written for k8sguard 0.1.0: the resource examples of that release (the
# general node pool, the control-plane launch template, the backup bucket),
# plus one of each with only the required attributes and a node pool in
# node_cidr mode. The upgrade test applies it with 0.1.0 against moto and
# plans it with the current provider.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "region" { type = string }
variable "endpoints" { type = map(string) }
variable "cluster_name" { type = string }
variable "subnet_ids" { type = list(string) }
variable "suffix" { type = string }

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

resource "k8sguard_node_pool" "general" {
  cluster_name      = var.cluster_name
  name              = "general"
  node_role_arn     = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids        = var.subnet_ids
  instance_types    = ["m6i.xlarge"]
  min_size          = 3
  desired_size      = 3
  max_size          = 20
  max_pods_per_node = 58
  pod_ip_mode       = "vpc_cni"

  labels = { workload = "general" }
  tags   = { team = "platform" }

  taint {
    key    = "dedicated"
    value  = "general"
    effect = "NO_SCHEDULE"
  }
}

# Below the instance's ENI limit (m6i.large addresses 29 pods): the sizing
# 0.1.0 computed for such pools changed (CHANGELOG, Fixed).
resource "k8sguard_node_pool" "small" {
  cluster_name      = var.cluster_name
  name              = "small"
  node_role_arn     = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids        = var.subnet_ids
  instance_types    = ["m6i.large"]
  min_size          = 1
  desired_size      = 2
  max_size          = 10
  max_pods_per_node = 20
}

resource "k8sguard_node_pool" "node_cidr" {
  cluster_name        = var.cluster_name
  name                = "batch"
  node_role_arn       = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids          = var.subnet_ids
  instance_types      = ["m6i.large", "m5.large"]
  min_size            = 1
  desired_size        = 1
  max_size            = 10
  max_pods_per_node   = 110
  pod_ip_mode         = "node_cidr"
  pod_cidr            = "10.64.0.0/16"
  node_cidr_mask_size = 24
  waivers             = { POOL_EXCEEDS_POD_RANGE = "upgrade fixture: kept in state across the upgrade" }
}

resource "k8sguard_control_plane_launch_template" "masters" {
  name                 = "prod-control-plane-${var.suffix}"
  instance_type        = "m6i.large"
  image_id             = "ami-12c6146b"
  security_group_ids   = ["sg-0123456789abcdef0"]
  iam_instance_profile = "control-plane"
  user_data            = <<-EOT
    #!/bin/sh
    /opt/bootstrap/control-plane.sh
  EOT

  root_volume {
    size_gib = 50
    type     = "gp3"
  }

  etcd_volume {
    size_gib         = 100
    type             = "gp3"
    iops             = 6000
    throughput_mibps = 250
    device_name      = "/dev/sdf"
  }

  tags = { cluster = "prod" }
}

resource "k8sguard_control_plane_launch_template" "minimal" {
  name          = "minimal-control-plane-${var.suffix}"
  instance_type = "m5.large"
  image_id      = "ami-12c6146b"

  etcd_volume {
    size_gib = 100
  }
}

resource "k8sguard_etcd_backup_bucket" "prod" {
  bucket           = "prod-etcd-backups-${var.suffix}"
  object_lock_mode = "GOVERNANCE"
  retention_days   = 14
  noncurrent_days  = 30
  agent_prefix     = "prod/"
  force_destroy    = true
}

# BUCKET_NONCURRENT_SHORTER_THAN_RETENTION, a warning in 0.1.0 already:
# `findings` is recomputed at every plan.
resource "k8sguard_etcd_backup_bucket" "warned" {
  bucket          = "warned-etcd-backups-${var.suffix}"
  retention_days  = 14
  noncurrent_days = 7
  force_destroy   = true
}

resource "k8sguard_etcd_backup_bucket" "minimal" {
  bucket        = "minimal-etcd-backups-${var.suffix}"
  force_destroy = true
}

output "agent_policy_json" {
  value = k8sguard_etcd_backup_bucket.prod.agent_policy_json
}
