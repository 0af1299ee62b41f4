# The cluster-guardrails module as a platform team called it with 0.1.0.
# The upgrade test lays the release's modules/ beside this directory,
# applies with the 0.1.0 provider, swaps in the current modules/ and
# provider, and plans.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "ca_bundle" { type = string }

module "guardrails" {
  source = "../modules/cluster-guardrails"

  namespaces = {
    # The module's default container requests (100m CPU, 128Mi).
    "team-a" = { pods = 200, jobs = 50, cron_jobs = 10, requests_cpu = "20" }
    # Default limits and no default requests: 0.1.0 gave containers
    # requests of 100m CPU and 128Mi besides the limits.
    "team-b" = { pods = 100, default_limits = { cpu = "500m", memory = "512Mi" } }
    # Both given.
    "team-c" = {
      pods             = 50
      default_requests = { cpu = "50m", memory = "64Mi" }
      default_limits   = { memory = "256Mi" }
    }
  }
  webhooks = [{
    name          = "opa"
    kind          = "validating"
    url           = "https://127.0.0.1:9443/v1/admit"
    ca_bundle     = var.ca_bundle
    opt_in_labels = { "opa-policy" = "enabled" }
    rules = [{
      api_groups   = ["networking.k8s.io"]
      api_versions = ["v1"]
      resources    = ["ingresses"]
      operations   = ["CREATE", "UPDATE"]
    }]
  }]
}

output "pod_quotas" { value = module.guardrails.pod_quotas }
