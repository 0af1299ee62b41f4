# Both AWS-side modules with valid inputs by default; the input table test
# overrides one at a time and expects the module's validation message at
# plan, before any API call.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "cluster_name" {
  type    = string
  default = "prod-eu1"
}
variable "bucket_name" {
  type    = string
  default = "prod-eu1-etcd-backups"
}
variable "prefix" {
  type    = string
  default = null
}
variable "schedule_interval" {
  type    = string
  default = "30m"
}
variable "check_shrink_ratio" {
  type    = number
  default = 0.5
}
variable "retention_days" {
  type    = number
  default = 14
}
variable "mode" {
  type    = string
  default = "agent"
}
variable "etcd_endpoints" {
  type    = list(string)
  default = ["https://127.0.0.1:2379"]
}
variable "etcd_key_group" {
  type    = string
  default = "etcd-backup"
}
variable "etcdguard_download" {
  type    = any
  default = null
}
variable "image_id" {
  type    = string
  default = "ami-785db401"
}
variable "bootstrap_script" {
  type    = string
  default = "#!/bin/sh\ntrue\n"
}
variable "cloud_init" {
  type    = string
  default = null
}
variable "pod_ip_mode" {
  type    = string
  default = "node_cidr"
}
variable "pod_cidr" {
  type    = string
  default = "10.64.0.0/16"
}
variable "node_pools" {
  type = any
  default = {
    general = { instance_types = ["m6i.large"], min_size = 1, desired_size = 2, max_size = 10, max_pods_per_node = 110 }
  }
}

module "etcd_backup" {
  source = "../../../../modules/etcd-backup"

  cluster_name       = var.cluster_name
  bucket_name        = var.bucket_name
  region             = "eu-central-1"
  prefix             = var.prefix
  schedule_interval  = var.schedule_interval
  check_shrink_ratio = var.check_shrink_ratio
  retention_days     = var.retention_days
  mode               = var.mode
  etcd_endpoints     = var.etcd_endpoints
  etcdguard_download = var.etcdguard_download
  etcd_key_group     = var.etcd_key_group
}

module "control_plane" {
  source = "../../../../modules/control-plane"

  cluster_name           = var.cluster_name
  control_plane          = { instance_type = "m6i.large", image_id = var.image_id }
  etcd_backup_cloud_init = coalesce(var.cloud_init, module.etcd_backup.cloud_init)
  bootstrap_script       = var.bootstrap_script
  node_role_arn          = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids             = ["subnet-0a1b2c3d4e5f60001"]
  pod_ip_mode            = var.pod_ip_mode
  pod_cidr               = var.pod_cidr
  node_pools             = var.node_pools
}
