# One k8sguard AWS resource whose guarded value is another resource's output:
# terraform_data's output is unknown at plan when the resource is created,
# so the rules see the bad value only at apply.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "region" { type = string }
variable "endpoints" { type = map(string) }
variable "resource" {
  type = string # control_plane_launch_template, etcd_backup_bucket or node_pool
}
variable "name" { type = string }
variable "cluster_name" {
  type    = string
  default = ""
}
variable "subnet_ids" {
  type    = list(string)
  default = []
}

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

# Bad values, known only after apply.
resource "terraform_data" "instance_type" {
  input = "t2.large" # INSTANCE_T2: Zalando's etcd members on T2
}
resource "terraform_data" "retention_days" {
  input = 1 # BUCKET_RETENTION_SHORT
}
resource "terraform_data" "max_size" {
  input = 100 # POOL_EXCEEDS_POD_RANGE: two /25 subnets hold a handful of nodes
}

resource "k8sguard_control_plane_launch_template" "this" {
  count                = var.resource == "control_plane_launch_template" ? 1 : 0
  name                 = var.name
  instance_type        = terraform_data.instance_type.output
  image_id             = "ami-785db401"
  security_group_ids   = ["sg-0123456789abcdef0"]
  iam_instance_profile = "control-plane"
  root_volume {
    size_gib = 50
  }
  etcd_volume {
    size_gib = 100
  }
}

resource "k8sguard_etcd_backup_bucket" "this" {
  count           = var.resource == "etcd_backup_bucket" ? 1 : 0
  bucket          = var.name
  retention_days  = terraform_data.retention_days.output
  noncurrent_days = 30
  agent_prefix    = "prod/"
}

resource "k8sguard_node_pool" "this" {
  count             = var.resource == "node_pool" ? 1 : 0
  cluster_name      = var.cluster_name
  name              = var.name
  node_role_arn     = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids        = var.subnet_ids
  instance_types    = ["m6i.large"]
  min_size          = 1
  desired_size      = 2
  max_size          = terraform_data.max_size.output
  max_pods_per_node = 20
  pod_ip_mode       = "vpc_cni"
}
