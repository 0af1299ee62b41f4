terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "region" { type = string }
variable "endpoints" { type = map(string) }
variable "name" { type = string }
variable "instance_type" { type = string }
variable "etcd_volume_type" {
  type    = string
  default = "gp3"
}
variable "etcd_iops" {
  type    = number
  default = 6000
}
variable "allow_burstable" {
  type    = bool
  default = false
}
variable "waivers" {
  type    = map(string)
  default = {}
}

provider "k8sguard" {
  allow_burstable_control_plane = var.allow_burstable
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

resource "k8sguard_control_plane_launch_template" "masters" {
  name                 = var.name
  instance_type        = var.instance_type
  image_id             = "ami-12c6146b"
  security_group_ids   = ["sg-0123456789abcdef0"]
  iam_instance_profile = "control-plane"
  user_data            = "#!/bin/sh\necho bootstrap etcd\n"

  root_volume {
    size_gib = 50
  }
  etcd_volume {
    size_gib         = 100
    type             = var.etcd_volume_type
    iops             = var.etcd_iops
    throughput_mibps = 250
  }

  tags = { cluster = "prod" }
  # Waivers live only in configuration and state (import cannot read them
  # back): null when there are none, so an import round trip plans nothing.
  waivers = length(var.waivers) > 0 ? var.waivers : null
}

output "id" {
  value = k8sguard_control_plane_launch_template.masters.id
}

output "latest_version" {
  value = k8sguard_control_plane_launch_template.masters.latest_version
}
