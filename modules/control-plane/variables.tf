variable "cluster_name" {
  description = "Name of the cluster: the EKS cluster the node pools join, and the prefix of the control-plane launch template's name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$", var.cluster_name))
    error_message = "cluster_name must be 1-100 letters, digits, '-' or '_', starting with a letter or digit (EKS cluster name rules)."
  }
}

variable "control_plane" {
  description = <<-EOT
    The control-plane nodes' launch template. `instance_type` must be a
    fixed-performance type (T2 and burstable families are refused at plan:
    etcd on T2 lost the network during maintenance, Zalando incident 5).
    `etcd_volume` is the dedicated etcd disk (an SSD with at least 3000 IOPS):
    gp3 by default, with 6000 IOPS and 250 MiB/s unless `iops` and
    `throughput_mibps` say otherwise; io1/io2 need `iops`, and throughput is
    a gp3 setting.
    IMDSv2 only, encrypted volumes and no public IP are always set.
  EOT
  type = object({
    instance_type        = string
    image_id             = string
    security_group_ids   = optional(list(string), [])
    iam_instance_profile = optional(string)
    root_volume_gib      = optional(number, 50)
    etcd_volume = optional(object({
      size_gib         = optional(number, 100)
      type             = optional(string, "gp3")
      iops             = optional(number)
      throughput_mibps = optional(number)
      device_name      = optional(string, "/dev/sdf")
    }), {})
    tags    = optional(map(string), {})
    waivers = optional(map(string), {})
  })

  validation {
    condition     = can(regex("^ami-[0-9a-f]+$", var.control_plane.image_id))
    error_message = "control_plane.image_id must be an AMI ID (ami-...)."
  }
  validation {
    condition     = var.control_plane.root_volume_gib >= 8 && var.control_plane.etcd_volume.size_gib >= 1
    error_message = "control_plane.root_volume_gib must be at least 8 and etcd_volume.size_gib at least 1."
  }
}

variable "etcd_backup_cloud_init" {
  description = "The `cloud_init` output of the etcd-backup module: installs etcdguard on every control-plane node. `null` to leave backups out (not recommended)."
  type        = string
  default     = null

  validation {
    condition     = var.etcd_backup_cloud_init == null || startswith(coalesce(var.etcd_backup_cloud_init, "#cloud-config"), "#cloud-config")
    error_message = "etcd_backup_cloud_init must be a #cloud-config document (the etcd-backup module's cloud_init output)."
  }
}

variable "bootstrap_script" {
  description = "The node's own bootstrap (kubeadm join/init, ...), a shell script starting with `#!`. Combined with `etcd_backup_cloud_init` into a MIME multipart user data; cloud-init runs both."
  type        = string
  default     = null

  validation {
    condition     = var.bootstrap_script == null || startswith(coalesce(var.bootstrap_script, "#!"), "#!")
    error_message = "bootstrap_script must be a script starting with #! (for example #!/bin/sh)."
  }
}

variable "node_role_arn" {
  description = "IAM role the worker nodes run as."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the worker nodes (and, with the VPC CNI, of their pods), unless a pool names its own."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids needs at least one subnet."
  }
}

variable "pod_ip_mode" {
  description = "Where pods get addresses: `vpc_cni` (secondary IPs from the subnets), `vpc_cni_prefix` (prefix delegation, Nitro instance types only) or `node_cidr` (a node block from `pod_cidr` per node, as with kube-controller-manager's node IPAM)."
  type        = string
  default     = "vpc_cni"

  validation {
    condition     = contains(["vpc_cni", "vpc_cni_prefix", "node_cidr"], var.pod_ip_mode)
    error_message = "pod_ip_mode must be vpc_cni, vpc_cni_prefix or node_cidr."
  }
}

variable "pod_cidr" {
  description = "`node_cidr` mode: the cluster's IPv4 pod range (`--cluster-cidr`). Every pool's `max_size` together must fit its node blocks (checked at plan)."
  type        = string
  default     = null

  validation {
    condition     = var.pod_cidr == null || can(cidrnetmask(var.pod_cidr))
    error_message = "pod_cidr must be an IPv4 CIDR such as 10.64.0.0/16."
  }
}

variable "reserved_nodes" {
  description = "`node_cidr` mode: node blocks kept free for surge during upgrades and pools outside this module."
  type        = number
  default     = 0

  validation {
    condition     = var.reserved_nodes >= 0
    error_message = "reserved_nodes must not be negative."
  }
}

variable "node_pools" {
  description = <<-EOT
    Worker node pools (EKS managed node groups) by name. `max_pods_per_node`
    is the kubelet's maxPods. Each pool's `max_size` is checked at plan
    against the pod addresses, counting the cluster's existing pools at their
    `max_size` (`POOL_EXCEEDS_POD_RANGE`); in `node_cidr` mode the module
    also checks all its pools together against `pod_cidr`.
  EOT
  type = map(object({
    instance_types    = list(string)
    min_size          = number
    desired_size      = number
    max_size          = number
    max_pods_per_node = number
    subnet_ids        = optional(list(string))
    labels            = optional(map(string), {})
    taints = optional(list(object({
      key    = string
      value  = optional(string)
      effect = string
    })), [])
    tags    = optional(map(string), {})
    waivers = optional(map(string), {})
  }))
  default = {}

  validation {
    condition     = alltrue([for n, p in var.node_pools : p.min_size >= 0 && p.min_size <= p.desired_size && p.desired_size <= p.max_size && p.max_size >= 1])
    error_message = "Every node pool needs 0 <= min_size <= desired_size <= max_size, and max_size >= 1."
  }
  validation {
    condition     = alltrue([for n, p in var.node_pools : p.max_pods_per_node >= 1 && p.max_pods_per_node <= 250])
    error_message = "max_pods_per_node must be between 1 and 250."
  }
  validation {
    condition     = alltrue(flatten([for n, p in var.node_pools : [for t in p.taints : contains(["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"], t.effect)]]))
    error_message = "A taint's effect must be NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE (the EKS spelling)."
  }
  validation {
    condition     = alltrue([for n, p in var.node_pools : length(p.instance_types) > 0])
    error_message = "Every node pool needs at least one instance type."
  }
}
