# A pod cap (and the default container requests the CPU/memory totals need)
# for every team namespace: a CronJob that spawns pods without end stops at
# the cap instead of at the API server's memory limit (Zalando incident 2).
resource "k8sguard_pod_quota" "team" {
  for_each = var.namespaces

  namespace       = each.key
  pods            = each.value.pods
  jobs            = each.value.jobs
  cron_jobs       = each.value.cron_jobs
  requests_cpu    = each.value.requests_cpu
  requests_memory = each.value.requests_memory
  limits_memory   = each.value.limits_memory
  waivers         = each.value.waivers

  dynamic "default_container_requests" {
    for_each = local.default_requests[each.key] == null ? [] : [local.default_requests[each.key]]
    content {
      cpu    = default_container_requests.value.cpu
      memory = default_container_requests.value.memory
    }
  }
  dynamic "default_container_limits" {
    for_each = each.value.default_limits == null ? [] : [each.value.default_limits]
    content {
      cpu    = default_container_limits.value.cpu
      memory = default_container_limits.value.memory
    }
  }
}

locals {
  # The module's default requests (100m CPU, 128Mi memory), each only where
  # no default limit is given for it: Kubernetes then makes the request the
  # limit, and a larger request would make the API server refuse the
  # LimitRange. Explicit default_requests are passed as given.
  default_requests = { for ns, q in var.namespaces : ns => (q.default_requests != null ? q.default_requests :
    try(q.default_limits.cpu, null) != null && try(q.default_limits.memory, null) != null ? null : {
      cpu    = try(q.default_limits.cpu, null) == null ? "100m" : null
      memory = try(q.default_limits.memory, null) == null ? "128Mi" : null
  }) }
  validating = { for w in var.webhooks : w.name => w if w.kind == "validating" }
  mutating   = { for w in var.webhooks : w.name => w if w.kind == "mutating" }
}

# Webhooks only ever see the namespaces that opt in with a label; the
# provider also excludes kube-system, kube-public, kube-node-lease and the
# backend's own namespace, so a dead backend cannot block the control plane
# (the Jetstack/GKE outage).
resource "k8sguard_validating_webhook" "this" {
  for_each = local.validating

  name    = each.key
  waivers = each.value.waivers

  webhook {
    name                  = coalesce(each.value.webhook_name, "${each.key}.k8sguard.io")
    url                   = each.value.url
    ca_bundle             = each.value.ca_bundle
    failure_policy        = each.value.failure_policy
    timeout_seconds       = each.value.timeout_seconds
    side_effects          = each.value.side_effects
    require_ready_backend = each.value.require_ready_backend

    dynamic "service" {
      for_each = each.value.service == null ? [] : [each.value.service]
      content {
        namespace = service.value.namespace
        name      = service.value.name
        path      = service.value.path
        port      = service.value.port
      }
    }
    dynamic "rule" {
      for_each = each.value.rules
      content {
        api_groups   = rule.value.api_groups
        api_versions = rule.value.api_versions
        resources    = rule.value.resources
        operations   = rule.value.operations
        scope        = rule.value.scope
      }
    }
    namespace_selector {
      match_labels = each.value.opt_in_labels
    }
    dynamic "object_selector" {
      for_each = each.value.object_labels == null ? [] : [each.value.object_labels]
      content {
        match_labels = object_selector.value
      }
    }
  }
}

resource "k8sguard_mutating_webhook" "this" {
  for_each = local.mutating

  name    = each.key
  waivers = each.value.waivers

  webhook {
    name                  = coalesce(each.value.webhook_name, "${each.key}.k8sguard.io")
    url                   = each.value.url
    ca_bundle             = each.value.ca_bundle
    failure_policy        = each.value.failure_policy
    timeout_seconds       = each.value.timeout_seconds
    side_effects          = each.value.side_effects
    require_ready_backend = each.value.require_ready_backend
    reinvocation_policy   = each.value.reinvocation_policy

    dynamic "service" {
      for_each = each.value.service == null ? [] : [each.value.service]
      content {
        namespace = service.value.namespace
        name      = service.value.name
        path      = service.value.path
        port      = service.value.port
      }
    }
    dynamic "rule" {
      for_each = each.value.rules
      content {
        api_groups   = rule.value.api_groups
        api_versions = rule.value.api_versions
        resources    = rule.value.resources
        operations   = rule.value.operations
        scope        = rule.value.scope
      }
    }
    namespace_selector {
      match_labels = each.value.opt_in_labels
    }
    dynamic "object_selector" {
      for_each = each.value.object_labels == null ? [] : [each.value.object_labels]
      content {
        match_labels = object_selector.value
      }
    }
  }
}

# The same rules inside the API server, for every webhook configuration,
# CronJob, Service, Deployment and StatefulSet, whatever creates it (Helm,
# kubectl, an operator): ValidatingAdmissionPolicies, so there is no webhook
# backend that could fail.
resource "k8sguard_admission_guardrails" "this" {
  count = var.admission_guardrails.enabled ? 1 : 0

  actions                 = var.admission_guardrails.actions
  exempt_namespace_labels = var.admission_guardrails.exempt_namespace_labels
  namespaces              = var.admission_guardrails.namespaces
}
