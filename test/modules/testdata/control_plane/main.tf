# The control-plane module on moto, with the etcd-backup module's cloud-init
# as the control-plane nodes' user data.
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
variable "instance_type" {
  type    = string
  default = "m6i.large"
}
variable "node_pools" { type = any }

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

module "etcd_backup" {
  source = "../../../../modules/etcd-backup"

  cluster_name   = var.cluster_name
  bucket_name    = var.bucket_name
  region         = var.region
  retention_days = 7
  force_destroy  = true
}

module "control_plane" {
  source = "../../../../modules/control-plane"

  cluster_name = var.cluster_name
  control_plane = {
    instance_type      = var.instance_type
    image_id           = "ami-785db401"
    security_group_ids = []
  }
  etcd_backup_cloud_init = module.etcd_backup.cloud_init
  bootstrap_script       = "#!/bin/sh\n/opt/bootstrap/control-plane.sh\n"

  node_role_arn = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids    = var.subnet_ids
  pod_ip_mode   = "node_cidr"
  pod_cidr      = "10.64.0.0/20"
  node_pools    = var.node_pools
}

output "launch_template_id" { value = module.control_plane.launch_template_id }
output "launch_template_version" { value = module.control_plane.launch_template_version }
output "node_pools" { value = module.control_plane.node_pools }
output "pod_range_max_nodes" { value = module.control_plane.pod_range_max_nodes }
output "etcdguard_config" { value = module.etcd_backup.config_yaml }
