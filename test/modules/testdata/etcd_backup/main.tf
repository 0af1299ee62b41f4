# The etcd-backup module pointed at moto (provider endpoints and etcdguard's
# store.endpoint) and at the test's plain-HTTP etcd.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "region" { type = string }
variable "endpoints" { type = map(string) }
variable "bucket_name" { type = string }
variable "etcd_endpoints" { type = list(string) }
variable "kubeadm_tls" {
  type    = bool
  default = false
}
variable "mode" {
  type    = string
  default = "agent"
}

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

module "etcd_backup" {
  source = "../../../../modules/etcd-backup"

  cluster_name   = "prod-eu1"
  bucket_name    = var.bucket_name
  region         = var.region
  s3_endpoint    = var.endpoints["s3"]
  etcd_endpoints = var.etcd_endpoints
  etcd_tls       = var.kubeadm_tls ? { ca_file = "/etc/kubernetes/pki/etcd/ca.crt", cert_file = "/etc/kubernetes/pki/etcd/healthcheck-client.crt", key_file = "/etc/kubernetes/pki/etcd/healthcheck-client.key" } : null
  retention_days = 7
  mode           = var.mode
  force_destroy  = true
  etcdguard_download = {
    url    = "https://downloads.example.com/etcdguard/v0.1.0/etcdguard-linux-amd64"
    sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
  }
}

output "bucket" { value = module.etcd_backup.bucket }
output "store_url" { value = module.etcd_backup.store_url }
output "config_yaml" { value = module.etcd_backup.config_yaml }
output "cloud_init" { value = module.etcd_backup.cloud_init }
output "systemd_units" { value = module.etcd_backup.systemd_units }
output "agent_policy_json" { value = module.etcd_backup.agent_policy_json }
