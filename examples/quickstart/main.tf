# The k8sguard quickstart: what `make demo` applies against the ephemeral
# control plane. The provider reads the cluster from KUBECONFIG.
#
# Two teams get a hard pod cap (the Zalando CronJob incident stops at the
# cap instead of at the API server's memory limit), and a policy webhook is
# registered the only way k8sguard allows: scoped to namespaces that opt in,
# never in kube-system, kube-public, kube-node-lease or its own namespace.
# The same rules are installed in the API server itself, so they also hold
# for what kubectl, Helm or an operator creates.
terraform {
  required_version = ">= 1.11"
  required_providers {
    k8sguard = {
      source = "k8sguard/k8sguard"
    }
  }
}

provider "k8sguard" {}

variable "teams" {
  description = "Team namespaces (they must exist) and how many pods, Jobs and CronJobs each may hold."
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

data "k8sguard_kubernetes_cluster" "this" {}

resource "k8sguard_pod_quota" "team" {
  for_each = var.teams

  namespace = each.key
  pods      = each.value.pods
  jobs      = each.value.jobs
  cron_jobs = each.value.cron_jobs

  default_container_requests {
    cpu    = "100m"
    memory = "128Mi"
  }
}

# failure_policy "Ignore" (the default): the policy backend is not deployed in
# the demo, so the hook is registered without waiting for ready endpoints and
# a dead backend admits instead of blocking.
resource "k8sguard_validating_webhook" "policy" {
  name = "quickstart-policy"

  webhook {
    name = "ingress-policy.quickstart.k8sguard.io"
    service {
      namespace = "policy"
      name      = "policy-server"
      path      = "/validate"
    }

    rule {
      api_groups   = ["networking.k8s.io"]
      api_versions = ["v1"]
      resources    = ["ingresses"]
      operations   = ["CREATE", "UPDATE"]
    }
    namespace_selector {
      match_labels = { "policy.k8sguard.io/enabled" = "true" }
    }
  }
}

# The rules inside the API server (ValidatingAdmissionPolicies, no webhook
# backend): the Jetstack webhook, the Zalando CronJob and a public Weave
# Scope are denied whatever creates them; workload hygiene warns.
resource "k8sguard_admission_guardrails" "this" {}

output "server_version" {
  description = "Version of the API server k8sguard is guarding."
  value       = data.k8sguard_kubernetes_cluster.this.server_version
}

output "pod_caps" {
  description = "Hard pod cap per team namespace."
  value       = { for ns, q in k8sguard_pod_quota.team : ns => q.pods }
}

output "webhook_namespace_selector" {
  description = "The namespace selector k8sguard really registered: the opt-in label plus the protected namespaces excluded."
  value       = k8sguard_validating_webhook.policy.webhook[0].effective_namespace_selector
}

output "admission_policies" {
  description = "The ValidatingAdmissionPolicies enforcing k8sguard's rules in the API server."
  value       = k8sguard_admission_guardrails.this.policies
}
