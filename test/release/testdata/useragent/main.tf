# One Kubernetes read (the data source) and one AWS call
# (DescribeInstanceTypes, at plan) so the test sees the provider's user
# agent on both sides.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "region" { type = string }
variable "endpoints" { type = map(string) }

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

data "k8sguard_kubernetes_cluster" "this" {}

resource "k8sguard_control_plane_launch_template" "masters" {
  name          = "ua-check"
  instance_type = "m5.large"
  image_id      = "ami-785db401"

  etcd_volume {
    size_gib = 100
  }
}

output "server_version" {
  value = data.k8sguard_kubernetes_cluster.this.server_version
}
