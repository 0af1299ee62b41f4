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
  # The module's default requests (100m CPU, 128Mi memory), each unless
  # default_limits gives a smaller limit for it (the API server refuses a
  # LimitRange whose default request is above its default limit): then no
  # request is set and Kubernetes makes the request the limit. Beside a
  # limit at least as large the default request stays, as in 0.1.0, so an
  # upgrade does not raise what every container without requests reserves
  # (a 500m limit would otherwise become a 500m request, five times what
  # the quota counted). A limit this cannot read is treated as smaller
  # (the provider refuses such quantities at plan anyway). Explicit
  # default_requests are passed as given.
  default_request_amounts = { cpu = "100m", memory = "128Mi" }
  default_request_values  = { cpu = 0.1, memory = 134217728 }
  quantity_suffixes = {
    "" = 1, m = 0.001, k = 1e3, M = 1e6, G = 1e9, T = 1e12, P = 1e15, E = 1e18,
    Ki = 1024, Mi = 1048576, Gi = 1073741824, Ti = 1099511627776, Pi = 1125899906842624, Ei = 1152921504606846976
  }
  fallback_requests = { for ns, q in var.namespaces : ns => {
    for r, amount in local.default_request_amounts : r => (
      try(q.default_limits[r], null) == null ? amount :
      try(tonumber(regex("^([0-9]+(?:\\.[0-9]+)?)([a-zA-Z]*)$", q.default_limits[r])[0]) *
      local.quantity_suffixes[regex("^([0-9]+(?:\\.[0-9]+)?)([a-zA-Z]*)$", q.default_limits[r])[1]] >= local.default_request_values[r], false) ? amount : null
    )
  } }
  default_requests = { for ns, q in var.namespaces : ns => (q.default_requests != null ? q.default_requests :
    alltrue([for v in values(local.fallback_requests[ns]) : v == null]) ? null : {
      cpu    = local.fallback_requests[ns].cpu
      memory = local.fallback_requests[ns].memory
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
