variable "cluster_name" {
  description = "Name of the cluster, as etcdguard records it in every snapshot (`cluster_name`). Also the default key prefix in the bucket."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", var.cluster_name))
    error_message = "cluster_name must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit (etcdguard uses it as a key segment)."
  }
}

variable "bucket_name" {
  description = "Name of the S3 bucket to create for the snapshots, with versioning and Object Lock from the start (the bucket is always new)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..")
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit."
  }
}

variable "region" {
  description = "AWS region of the bucket, written into the etcdguard configuration (`store.region`)."
  type        = string
}

variable "prefix" {
  description = "Key prefix inside the bucket the agent writes under; also scopes the agent's IAM policy. Default: `<cluster_name>/`, so several clusters can share a bucket without reaching each other's snapshots."
  type        = string
  default     = null

  validation {
    condition     = var.prefix == null || can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/?$", var.prefix))
    error_message = "prefix must be a relative S3 key prefix such as \"prod/\" (no leading '/', no empty segments)."
  }
}

variable "s3_endpoint" {
  description = "S3-compatible endpoint for etcdguard (`store.endpoint`, path-style addressing), for example a VPC endpoint URL or a local S3 in tests. Default: AWS's regional endpoint."
  type        = string
  default     = null

  validation {
    condition     = var.s3_endpoint == null || can(regex("^https?://", var.s3_endpoint))
    error_message = "s3_endpoint must be an http:// or https:// URL."
  }
}

variable "object_lock_mode" {
  description = "Default Object Lock mode of new snapshots: `GOVERNANCE` (users with s3:BypassGovernanceRetention can still delete) or `COMPLIANCE` (nobody can until retention ends)."
  type        = string
  default     = "GOVERNANCE"

  validation {
    condition     = contains(["GOVERNANCE", "COMPLIANCE"], var.object_lock_mode)
    error_message = "object_lock_mode must be GOVERNANCE or COMPLIANCE."
  }
}

variable "retention_days" {
  description = "Days every snapshot version stays undeletable. Below 7 is refused by the provider (rule `BUCKET_RETENTION_SHORT`) unless waived."
  type        = number
  default     = 14

  validation {
    condition     = var.retention_days >= 1 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_days" {
  description = "Days after which noncurrent versions (pruned snapshots) expire."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_days >= 1 && floor(var.noncurrent_days) == var.noncurrent_days
    error_message = "noncurrent_days must be a whole number of days, at least 1."
  }
}

variable "kms_key_id" {
  description = "KMS key ID or ARN: SSE-KMS for the bucket and for etcdguard's uploads (`store.sse: aws:kms`). Default: SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Delete every snapshot version (bypassing GOVERNANCE retention) when the bucket is destroyed. Keep false in production: destroy then refuses a bucket that holds snapshots."
  type        = bool
  default     = false
}

variable "bucket_waivers" {
  description = "Rule waivers for the bucket, `{ RULE_ID = \"why this is acceptable\" }`, kept in state for review."
  type        = map(string)
  default     = {}
}

variable "etcd_endpoints" {
  description = "etcd client URLs etcdguard snapshots from (on a kubeadm control-plane node, the local member)."
  type        = list(string)
  default     = ["https://127.0.0.1:2379"]

  validation {
    condition     = length(var.etcd_endpoints) > 0 && alltrue([for e in var.etcd_endpoints : can(regex("^(https?|unixs?)://.+", e))])
    error_message = "etcd_endpoints needs at least one etcd client URL such as https://127.0.0.1:2379."
  }
}

variable "etcd_tls" {
  description = "Client TLS files on the node (kubeadm's health-check client certificate by default). `null` for plain-HTTP etcd."
  type = object({
    ca_file   = string
    cert_file = string
    key_file  = string
  })
  default = {
    ca_file   = "/etc/kubernetes/pki/etcd/ca.crt"
    cert_file = "/etc/kubernetes/pki/etcd/healthcheck-client.crt"
    key_file  = "/etc/kubernetes/pki/etcd/healthcheck-client.key"
  }
}

variable "etcd_key_group" {
  description = "With `etcd_tls`: a system group cloud-init creates, gives read access to the client key (kubeadm writes it root:root 0600) and adds to etcdguard's unit (`SupplementaryGroups`), since the unit runs as a dynamic user."
  type        = string
  default     = "etcd-backup"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.etcd_key_group))
    error_message = "etcd_key_group must be a Linux group name: lower-case letters, digits, '_' or '-', at most 32 characters."
  }
}

variable "schedule_interval" {
  description = "How often the agent takes a snapshot (`schedule.interval`), a Go duration such as `30m`. With `mode = \"timer\"` the timer unit's own schedule applies instead."
  type        = string
  default     = "30m"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(h|m|s))+$", var.schedule_interval))
    error_message = "schedule_interval must be a duration with a unit such as 30m, 1h or 90s."
  }
}

variable "retention" {
  description = "Grandfather-father-son retention of complete snapshots: the newest `keep_last`, one per day for `keep_daily` days, one per week for `keep_weekly` weeks."
  type = object({
    keep_last   = optional(number, 48)
    keep_daily  = optional(number, 14)
    keep_weekly = optional(number, 8)
  })
  default = {}

  validation {
    condition     = var.retention.keep_last >= 1 && var.retention.keep_daily >= 0 && var.retention.keep_weekly >= 0
    error_message = "retention.keep_last must be at least 1 (the newest snapshot is always kept); keep_daily and keep_weekly must not be negative."
  }
}

variable "check_max_age" {
  description = "`etcdguard check` goes CRITICAL when the newest snapshot is older than this (`check.max_age`). Keep it a few intervals long."
  type        = string
  default     = "2h"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(h|m|s))+$", var.check_max_age))
    error_message = "check_max_age must be a duration with a unit such as 2h or 90m."
  }
}

variable "check_shrink_ratio" {
  description = "`etcdguard check` goes CRITICAL when a snapshot has fewer than this fraction of the previous one's keys (the `etcdctl del -r` accident)."
  type        = number
  default     = 0.5

  validation {
    condition     = var.check_shrink_ratio > 0 && var.check_shrink_ratio <= 1
    error_message = "check_shrink_ratio must be in (0, 1]."
  }
}

variable "metrics_listen" {
  description = "Address of the agent's /metrics, /healthz and /readyz listener."
  type        = string
  default     = "127.0.0.1:9471"
}

variable "mode" {
  description = "`agent`: the long-running etcdguard.service (leader election, metrics, watchdog). `timer`: etcdguard-snapshot.timer runs one snapshot every 30 minutes. Run one or the other per cluster."
  type        = string
  default     = "agent"

  validation {
    condition     = contains(["agent", "timer"], var.mode)
    error_message = "mode must be \"agent\" or \"timer\"."
  }
}

variable "etcdguard_download" {
  description = "Where cloud-init fetches the etcdguard binary and its sha256 (checked before it is installed into /usr/local/bin). `null` when the image already has /usr/local/bin/etcdguard."
  type = object({
    url    = string
    sha256 = string
  })
  default = null

  validation {
    condition     = var.etcdguard_download == null || can(regex("^https://", var.etcdguard_download.url)) && can(regex("^[0-9a-f]{64}$", var.etcdguard_download.sha256))
    error_message = "etcdguard_download needs an https:// url and the binary's sha256 as 64 lower-case hex digits."
  }
}
