# Several pod quotas at once, one per namespace.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "quotas" {
  description = "namespace => caps"
  type = map(object({
    pods = number
    jobs = optional(number)
  }))
}

resource "k8sguard_pod_quota" "this" {
  for_each  = var.quotas
  namespace = each.key
  pods      = each.value.pods
  jobs      = each.value.jobs
}

output "used_pods" {
  value = { for ns, q in k8sguard_pod_quota.this : ns => q.used_pods }
}

output "used_jobs" {
  value = { for ns, q in k8sguard_pod_quota.this : ns => q.used_jobs }
}
