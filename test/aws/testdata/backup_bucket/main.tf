terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "region" { type = string }
variable "endpoints" { type = map(string) }
variable "bucket" { type = string }
variable "retention_days" {
  type    = number
  default = 7
}
variable "noncurrent_days" {
  type    = number
  default = 30
}
variable "force_destroy" {
  type    = bool
  default = false
}

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

resource "k8sguard_etcd_backup_bucket" "backups" {
  bucket          = var.bucket
  retention_days  = var.retention_days
  noncurrent_days = var.noncurrent_days
  agent_prefix    = "prod/"
  force_destroy   = var.force_destroy
}

output "arn" {
  value = k8sguard_etcd_backup_bucket.backups.arn
}

output "agent_policy_json" {
  value = k8sguard_etcd_backup_bucket.backups.agent_policy_json
}
