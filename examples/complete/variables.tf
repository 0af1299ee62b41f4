variable "cluster_name" {
  description = "Name of the EKS cluster (it must exist) and of the etcd snapshots."
  type        = string
  default     = "prod-eu1"
}

variable "region" {
  description = "AWS region of the bucket, the launch template and the node pools."
  type        = string
  default     = "eu-central-1"
}

variable "aws_endpoints" {
  description = "AWS endpoint overrides by service (`ec2`, `eks`, `s3`, `sts`), for an AWS-compatible endpoint such as moto. Empty: AWS itself."
  type        = map(string)
  default     = {}
}

variable "teams" {
  description = "Team namespaces (they must exist) and their pod, Job and CronJob caps."
  type = map(object({
    pods      = number
    jobs      = optional(number)
    cron_jobs = optional(number)
  }))
  default = {
    "team-a" = { pods = 200, jobs = 50, cron_jobs = 10 }
    "team-b" = { pods = 50, jobs = 10, cron_jobs = 2 }
  }
}

variable "policy_webhook_url" {
  description = "https:// URL of the ingress policy webhook's backend (only namespaces labelled policy.k8sguard.io/enabled=true are sent to it)."
  type        = string
  default     = "https://policy.example.com/validate"
}

variable "backup_bucket" {
  description = "Name of the new etcd snapshot bucket."
  type        = string
  default     = "prod-eu1-etcd-backups-123456789012"
}

variable "force_destroy_backups" {
  description = "Let destroy delete the bucket with its snapshots (tests only)."
  type        = bool
  default     = false
}

variable "control_plane_image_id" {
  description = "AMI of the control-plane nodes. The default is the Ubuntu 16.04 image in moto's AMI list (root device /dev/sda1); use your region's."
  type        = string
  default     = "ami-785db401"
}

variable "control_plane_instance_profile" {
  description = "Instance profile of the control-plane nodes; attach the etcd_backup_policy output to its role."
  type        = string
  default     = null
}

variable "node_role_arn" {
  description = "IAM role of the worker nodes."
  type        = string
  default     = "arn:aws:iam::123456789012:role/nodes"
}

variable "subnet_ids" {
  description = "Subnets of the worker nodes."
  type        = list(string)
  default     = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
}

variable "pod_cidr" {
  description = "The cluster's pod range (--cluster-cidr); both pools' max_size together must fit its /24 node blocks."
  type        = string
  default     = "10.64.0.0/16"
}
