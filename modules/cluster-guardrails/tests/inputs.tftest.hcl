# Plan-only checks of every input validation (terraform test; the provider
# is mocked: these are Terraform's own checks, before any cluster call). The
# provider's rules and the apply against a real control plane are
# test/modules' terratest.

mock_provider "k8sguard" {}

variables {
  namespaces = {
    team-a = { pods = 200, jobs = 50 }
  }
  webhooks = [{
    name          = "opa"
    kind          = "validating"
    service       = { namespace = "opa", name = "opa", path = "/v1/admit" }
    rules         = [{ api_groups = ["networking.k8s.io"], api_versions = ["v1"], resources = ["ingresses"], operations = ["CREATE", "UPDATE"] }]
    opt_in_labels = { "opa-policy" = "enabled" }
  }]
}

run "valid_inputs_plan" {
  command = plan

  assert {
    condition     = k8sguard_pod_quota.team["team-a"].pods == 200
    error_message = "team-a's quota caps pods at 200."
  }
  assert {
    condition     = length(k8sguard_validating_webhook.this) == 1 && length(k8sguard_mutating_webhook.this) == 0
    error_message = "One validating webhook, no mutating one."
  }
  assert {
    condition     = length(k8sguard_admission_guardrails.this) == 1
    error_message = "The admission guardrails are installed by default."
  }
}

run "admission_guardrails_with_actions_plan" {
  command = plan
  variables {
    admission_guardrails = {
      actions                 = { WORKLOAD_NO_SPREAD = "deny", WEBHOOK_WILDCARD_RULE = "audit" }
      exempt_namespace_labels = { "k8sguard.io/exempt" = "true" }
      namespaces              = ["team-a"]
    }
  }

  assert {
    condition     = k8sguard_admission_guardrails.this[0].actions["WORKLOAD_NO_SPREAD"] == "deny" && k8sguard_admission_guardrails.this[0].namespaces == tolist(["team-a"])
    error_message = "The actions and namespaces reach the resource."
  }
}

run "admission_guardrails_disabled" {
  command = plan
  variables {
    admission_guardrails = { enabled = false }
  }

  assert {
    condition     = length(k8sguard_admission_guardrails.this) == 0
    error_message = "enabled = false installs no admission guardrails."
  }
}

run "namespace_name_with_capitals" {
  command = plan
  variables { namespaces = { Team-A = { pods = 10 } } }
  expect_failures = [var.namespaces]
}

run "namespace_without_a_pod_cap" {
  command = plan
  variables { namespaces = { team-a = { pods = 0 } } }
  expect_failures = [var.namespaces]
}

run "more_jobs_than_pods" {
  command = plan
  variables { namespaces = { team-a = { pods = 10, jobs = 20 } } }
  expect_failures = [var.namespaces]
}

run "unknown_webhook_kind" {
  command = plan
  variables {
    webhooks = [{
      name  = "opa", kind = "auditing", url = "https://opa.example.com/v1/admit", opt_in_labels = { a = "b" }
      rules = [{ api_groups = ["apps"], api_versions = ["v1"], resources = ["deployments"], operations = ["CREATE"] }]
    }]
  }
  expect_failures = [var.webhooks]
}

run "duplicate_webhook_names" {
  command = plan
  variables {
    webhooks = [for i in [1, 2] : {
      name  = "opa", kind = "validating", url = "https://opa.example.com/v1/admit", opt_in_labels = { a = "b" }
      rules = [{ api_groups = ["apps"], api_versions = ["v1"], resources = ["deployments"], operations = ["CREATE"] }]
    }]
  }
  expect_failures = [var.webhooks]
}

run "webhook_with_two_backends" {
  command = plan
  variables {
    webhooks = [{
      name    = "opa", kind = "validating", url = "https://opa.example.com/v1/admit", opt_in_labels = { a = "b" }
      service = { namespace = "opa", name = "opa" }
      rules   = [{ api_groups = ["apps"], api_versions = ["v1"], resources = ["deployments"], operations = ["CREATE"] }]
    }]
  }
  expect_failures = [var.webhooks]
}

run "webhook_without_opt_in_labels" {
  command = plan
  variables {
    webhooks = [{
      name  = "opa", kind = "validating", url = "https://opa.example.com/v1/admit", opt_in_labels = {}
      rules = [{ api_groups = ["apps"], api_versions = ["v1"], resources = ["deployments"], operations = ["CREATE"] }]
    }]
  }
  expect_failures = [var.webhooks]
}

run "webhook_without_rules" {
  command = plan
  variables {
    webhooks = [{
      name  = "opa", kind = "validating", url = "https://opa.example.com/v1/admit", opt_in_labels = { a = "b" }
      rules = []
    }]
  }
  expect_failures = [var.webhooks]
}

run "unknown_failure_policy" {
  command = plan
  variables {
    webhooks = [{
      name           = "opa", kind = "validating", url = "https://opa.example.com/v1/admit", opt_in_labels = { a = "b" }
      failure_policy = "Retry"
      rules          = [{ api_groups = ["apps"], api_versions = ["v1"], resources = ["deployments"], operations = ["CREATE"] }]
    }]
  }
  expect_failures = [var.webhooks]
}

run "reinvocation_policy_on_a_validating_webhook" {
  command = plan
  variables {
    webhooks = [{
      name                = "opa", kind = "validating", url = "https://opa.example.com/v1/admit", opt_in_labels = { a = "b" }
      reinvocation_policy = "IfNeeded"
      rules               = [{ api_groups = ["apps"], api_versions = ["v1"], resources = ["deployments"], operations = ["CREATE"] }]
    }]
  }
  expect_failures = [var.webhooks]
}

run "unknown_admission_action" {
  command = plan
  variables {
    admission_guardrails = { actions = { WORKLOAD_NO_SPREAD = "block" } }
  }
  expect_failures = [var.admission_guardrails]
}

run "admission_action_keyed_by_a_name_not_a_rule_id" {
  command = plan
  variables {
    admission_guardrails = { actions = { "workload-no-spread" = "warn" } }
  }
  expect_failures = [var.admission_guardrails]
}

run "admission_guardrails_in_kube_system" {
  command = plan
  variables {
    admission_guardrails = { namespaces = ["team-a", "kube-system"] }
  }
  expect_failures = [var.admission_guardrails]
}

run "default_requests_only_without_larger_limits_plan" {
  command = plan
  variables {
    namespaces = {
      plain       = { pods = 10 }
      limits-only = { pods = 10, default_limits = { memory = "64Mi" } }
      both-small  = { pods = 10, default_limits = { cpu = "50m", memory = "64Mi" } }
      both-larger = { pods = 10, default_limits = { cpu = "1", memory = "0.5Gi" } }
      same        = { pods = 10, default_limits = { cpu = "0.1", memory = "134217728" } }
      decimal     = { pods = 10, default_limits = { cpu = "2", memory = "100M" } }
      explicit    = { pods = 10, default_requests = { cpu = "50m" }, default_limits = { memory = "64Mi" } }
    }
  }

  assert {
    condition     = k8sguard_pod_quota.team["plain"].default_container_requests[0].cpu == "100m" && k8sguard_pod_quota.team["plain"].default_container_requests[0].memory == "128Mi"
    error_message = "Without default_requests or default_limits, containers get the module's 100m / 128Mi requests."
  }
  assert {
    condition     = k8sguard_pod_quota.team["limits-only"].default_container_requests[0].cpu == "100m" && k8sguard_pod_quota.team["limits-only"].default_container_requests[0].memory == null
    error_message = "With a default memory limit below 128Mi alone, the CPU request is the module's and the memory request is left to Kubernetes (the limit; 128Mi would exceed a 64Mi limit)."
  }
  assert {
    condition     = length(k8sguard_pod_quota.team["both-small"].default_container_requests) == 0
    error_message = "With both default limits below the module's requests, no default requests are set: Kubernetes makes them the limits."
  }
  assert {
    condition     = k8sguard_pod_quota.team["both-larger"].default_container_requests[0].cpu == "100m" && k8sguard_pod_quota.team["both-larger"].default_container_requests[0].memory == "128Mi"
    error_message = "Beside larger default limits the module's requests stay (as in 0.1.0): the limits must not become the requests on upgrade."
  }
  assert {
    condition     = k8sguard_pod_quota.team["same"].default_container_requests[0].cpu == "100m" && k8sguard_pod_quota.team["same"].default_container_requests[0].memory == "128Mi"
    error_message = "A default limit equal to the module's request (in other units) keeps the request."
  }
  assert {
    condition     = k8sguard_pod_quota.team["decimal"].default_container_requests[0].cpu == "100m" && k8sguard_pod_quota.team["decimal"].default_container_requests[0].memory == null
    error_message = "Decimal suffixes are read: 100M is below 128Mi (134,217,728 bytes), so the memory request is left to Kubernetes."
  }
  assert {
    condition     = k8sguard_pod_quota.team["explicit"].default_container_requests[0].cpu == "50m"
    error_message = "Explicit default_requests are passed as given."
  }
}
