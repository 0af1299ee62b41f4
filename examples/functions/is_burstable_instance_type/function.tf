variable "control_plane_instance_type" {
  type    = string
  default = "m6i.large"

  validation {
    condition     = !provider::k8sguard::is_burstable_instance_type(var.control_plane_instance_type)
    error_message = "Control-plane nodes need a fixed-performance instance type, not a burstable one (t2, t3, t3a, t4g)."
  }
}

output "t3_is_burstable" {
  value = provider::k8sguard::is_burstable_instance_type("t3.large") # true
}
