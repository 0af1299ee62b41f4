variable "namespaces" {
  description = <<-EOT
    Team namespaces to cap, keyed by namespace name (the namespaces must already exist).
    `pods` is the hard pod cap; `jobs` and `cron_jobs` cap Job and CronJob counts;
    `requests_cpu`, `requests_memory` and `limits_memory` are optional totals
    (Kubernetes quantities); `default_requests`/`default_limits` are given to
    containers that set none (a LimitRange), so the CPU and memory totals can
    count every pod. Without `default_requests`, containers get requests of
    100m CPU and 128Mi memory, each unless `default_limits` gives a smaller
    limit for it (Kubernetes then makes the request the limit). A default request
    above its default limit is refused at plan (the API server would refuse
    the LimitRange).
  EOT
  type = map(object({
    pods            = number
    jobs            = optional(number)
    cron_jobs       = optional(number)
    requests_cpu    = optional(string)
    requests_memory = optional(string)
    limits_memory   = optional(string)
    default_requests = optional(object({
      cpu    = optional(string)
      memory = optional(string)
    }))
    default_limits = optional(object({
      cpu    = optional(string)
      memory = optional(string)
    }))
    waivers = optional(map(string), {})
  }))
  default = {}

  validation {
    condition     = alltrue([for ns in keys(var.namespaces) : can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", ns))])
    error_message = "Every key of namespaces must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63 characters)."
  }
  validation {
    condition     = alltrue([for ns, q in var.namespaces : q.pods >= 1 && floor(q.pods) == q.pods])
    error_message = "Every namespace needs a whole number of pods of at least 1: a namespace without a pod cap is what let a runaway CronJob take the API server down."
  }
  validation {
    condition     = alltrue([for ns, q in var.namespaces : q.jobs == null || try(q.jobs <= q.pods, false)])
    error_message = "A namespace's jobs cap cannot exceed its pods cap (every Job runs at least one pod)."
  }
}

variable "webhooks" {
  description = <<-EOT
    Admission webhooks to register, each scoped to the namespaces that opt in
    with `opt_in_labels`. `kind` is `validating` or `mutating`; `name` is the
    webhook configuration's name and `webhook_name` the webhook's FQDN
    (default `<name>.k8sguard.io`). The backend is exactly one of `service`
    and `url`. `rules` say what the hook intercepts (wildcards and the
    control plane's own resources are refused at plan). `failure_policy`
    `Fail` is allowed because the hook is always scoped to the namespaces
    that opt in; on rules with `scope` `*` or `Cluster`, which namespace
    selectors do not reach, it also needs `object_labels`
    (`WEBHOOK_CLUSTER_SCOPED_FAIL` at plan). A `Fail` hook waits for the
    backend's ready endpoints unless `require_ready_backend = false`.
    `reinvocation_policy` applies to mutating hooks only.
  EOT
  type = list(object({
    name         = string
    kind         = string
    webhook_name = optional(string)
    service = optional(object({
      namespace = string
      name      = string
      path      = optional(string)
      port      = optional(number)
    }))
    url       = optional(string)
    ca_bundle = optional(string)
    rules = list(object({
      api_groups   = list(string)
      api_versions = list(string)
      resources    = list(string)
      operations   = list(string)
      scope        = optional(string)
    }))
    opt_in_labels         = map(string)
    object_labels         = optional(map(string))
    failure_policy        = optional(string, "Ignore")
    timeout_seconds       = optional(number)
    side_effects          = optional(string)
    require_ready_backend = optional(bool)
    reinvocation_policy   = optional(string)
    waivers               = optional(map(string), {})
  }))
  default = []

  validation {
    condition     = alltrue([for w in var.webhooks : contains(["validating", "mutating"], w.kind)])
    error_message = "Every webhook's kind must be \"validating\" or \"mutating\"."
  }
  validation {
    condition     = length(distinct([for w in var.webhooks : "${w.kind}/${w.name}"])) == length(var.webhooks)
    error_message = "Webhook names must be unique per kind (each becomes one webhook configuration object)."
  }
  validation {
    condition     = alltrue([for w in var.webhooks : (w.service == null) != (w.url == null)])
    error_message = "Every webhook needs exactly one backend: service or url."
  }
  validation {
    condition     = alltrue([for w in var.webhooks : length(w.opt_in_labels) > 0])
    error_message = "Every webhook needs opt_in_labels: namespaces opt in with a label, so a dead backend only affects the namespaces that asked for the hook (the Jetstack/GKE outage)."
  }
  validation {
    condition     = alltrue([for w in var.webhooks : length(w.rules) > 0])
    error_message = "Every webhook needs at least one rule saying what it intercepts."
  }
  validation {
    condition     = alltrue([for w in var.webhooks : contains(["Ignore", "Fail"], w.failure_policy)])
    error_message = "failure_policy must be \"Ignore\" or \"Fail\"."
  }
  validation {
    condition     = alltrue([for w in var.webhooks : w.reinvocation_policy == null || w.kind == "mutating"])
    error_message = "reinvocation_policy applies to mutating webhooks only."
  }
}

variable "admission_guardrails" {
  description = <<-EOT
    The same rules enforced inside the API server for every object, whatever
    creates it (a `k8sguard_admission_guardrails`). `enabled` (default true)
    installs them; `actions` sets `deny`, `warn` or `audit` per rule ID
    (control-plane safety rules deny by default, workload hygiene warns);
    `exempt_namespace_labels` exempts namespaces carrying one of these
    labels; `namespaces` limits the namespaced rules to those namespaces
    (never a protected one).
  EOT
  type = object({
    enabled                 = optional(bool, true)
    actions                 = optional(map(string), {})
    exempt_namespace_labels = optional(map(string), {})
    namespaces              = optional(list(string))
  })
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for a in values(var.admission_guardrails.actions) : contains(["deny", "warn", "audit"], a)])
    error_message = "Every admission_guardrails action must be deny, warn or audit."
  }
  validation {
    condition     = alltrue([for id in keys(var.admission_guardrails.actions) : can(regex("^[A-Z][A-Z_]*$", id))])
    error_message = "Every key of admission_guardrails.actions must be a rule ID such as WORKLOAD_NO_SPREAD (see the rules guide)."
  }
  validation {
    condition = alltrue([for ns in coalesce(var.admission_guardrails.namespaces, []) :
    !contains(["kube-system", "kube-public", "kube-node-lease"], ns)])
    error_message = "admission_guardrails.namespaces cannot name kube-system, kube-public or kube-node-lease: the guardrails never judge the control plane's own namespaces."
  }
}
