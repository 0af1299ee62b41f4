terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "region" { type = string }
variable "endpoints" { type = map(string) }
variable "name" { type = string }
variable "instance_type" { type = string }
variable "image_id" {
  type    = string
  default = "ami-785db401" # Ubuntu 16.04 in moto's AMI list: root device /dev/sda1
}
variable "root_volume" {
  type    = bool
  default = true
}
variable "root_device_name" {
  type    = string
  default = null # the AMI's root device
}
variable "etcd_device_name" {
  type    = string
  default = "/dev/sdf"
}
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
  image_id             = var.image_id
  security_group_ids   = ["sg-0123456789abcdef0"]
  iam_instance_profile = "control-plane"
  user_data            = "#!/bin/sh\necho bootstrap etcd\n"

  dynamic "root_volume" {
    for_each = var.root_volume ? [1] : []
    content {
      size_gib    = 50
      device_name = var.root_device_name
    }
  }
  etcd_volume {
    device_name      = var.etcd_device_name
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
