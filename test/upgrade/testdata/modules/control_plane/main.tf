# The control-plane and etcd-backup modules as a platform team called them
# with 0.1.0 (the etcd-backup module's cloud-init as the control-plane
# nodes' user data). The upgrade test lays the release's modules/ beside
# this directory, applies on moto with the 0.1.0 provider, swaps in the
# current modules/ and provider, and plans.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "region" { type = string }
variable "endpoints" { type = map(string) }
variable "cluster_name" { type = string }
variable "bucket_name" { type = string }
variable "subnet_ids" { type = list(string) }

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

module "etcd_backup" {
  source = "../modules/etcd-backup"

  cluster_name   = var.cluster_name
  bucket_name    = var.bucket_name
  region         = var.region
  retention_days = 7
  force_destroy  = true
}

module "control_plane" {
  source = "../modules/control-plane"

  cluster_name = var.cluster_name
  control_plane = {
    instance_type      = "m6i.large"
    image_id           = "ami-785db401"
    security_group_ids = []
  }
  etcd_backup_cloud_init = module.etcd_backup.cloud_init
  bootstrap_script       = "#!/bin/sh\n/opt/bootstrap/control-plane.sh\n"

  node_role_arn = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids    = var.subnet_ids
  pod_ip_mode   = "node_cidr"
  pod_cidr      = "10.64.0.0/20"
  node_pools = {
    general = {
      instance_types = ["m6i.large"], min_size = 1, desired_size = 1, max_size = 10, max_pods_per_node = 110
      labels         = { workload = "general" }
    }
    batch = {
      instance_types = ["m6i.large"], min_size = 1, desired_size = 1, max_size = 6, max_pods_per_node = 110
      labels         = { workload = "batch" }
      taints         = [{ key = "workload", value = "batch", effect = "NO_SCHEDULE" }]
    }
  }
}

output "launch_template_id" { value = module.control_plane.launch_template_id }
output "etcdguard_config" { value = module.etcd_backup.config_yaml }
