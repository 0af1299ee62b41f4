# Written for k8sguard 0.1.0: the resource examples of that release (OPA's
# validating hook on a service, the sidecar injector, team-a's quota), plus
# a URL hook and a quota that set every optional attribute 0.1.0 had. The
# upgrade test applies it with 0.1.0 and plans it with the current provider.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "ca_bundle" { type = string }
variable "url" { type = string }

resource "k8sguard_validating_webhook" "opa" {
  name = "opa-validating-webhook"

  webhook {
    name = "validating-webhook.openpolicyagent.org"
    service {
      namespace = "opa"
      name      = "opa"
      path      = "/v1/admit"
    }
    ca_bundle = var.ca_bundle

    rule {
      api_groups   = ["networking.k8s.io"]
      api_versions = ["v1"]
      resources    = ["ingresses"]
      operations   = ["CREATE", "UPDATE"]
      scope        = "Namespaced"
    }
    namespace_selector {
      match_labels = { "opa-policy" = "enabled" }
    }

    failure_policy  = "Fail"
    timeout_seconds = 3
  }
}

resource "k8sguard_validating_webhook" "every_attribute" {
  name    = "k8sguard-upgrade-every-attribute"
  waivers = { WEBHOOK_TIMEOUT = "upgrade fixture: kept in state across the upgrade" }

  webhook {
    name                      = "configmaps.upgrade.k8sguard.io"
    url                       = var.url
    ca_bundle                 = var.ca_bundle
    admission_review_versions = ["v1"]
    failure_policy            = "Ignore"
    match_policy              = "Exact"
    side_effects              = "NoneOnDryRun"
    timeout_seconds           = 5
    require_ready_backend     = false

    rule {
      api_groups   = [""]
      api_versions = ["v1"]
      resources    = ["configmaps"]
      operations   = ["CREATE", "UPDATE"]
    }
    rule {
      api_groups   = ["apps"]
      api_versions = ["v1"]
      resources    = ["deployments"]
      operations   = ["CREATE"]
      scope        = "Namespaced"
    }
    namespace_selector {
      match_expressions {
        key      = "team"
        operator = "In"
        values   = ["a", "b"]
      }
    }
    object_selector {
      match_labels = { "upgrade" = "yes" }
    }
    match_condition {
      name       = "not-system"
      expression = "!request.userInfo.username.startsWith('system:')"
    }
  }
}

resource "k8sguard_mutating_webhook" "sidecar_injector" {
  name = "sidecar-injector"

  webhook {
    name = "inject.sidecar.example.com"
    service {
      namespace = "sidecar-injector"
      name      = "injector"
      path      = "/inject"
    }
    ca_bundle = var.ca_bundle

    rule {
      api_groups   = [""]
      api_versions = ["v1"]
      resources    = ["pods"]
      operations   = ["CREATE"]
    }
    namespace_selector {
      match_labels = { "sidecar-injection" = "enabled" }
    }
    object_selector {
      match_expressions {
        key      = "sidecar.example.com/inject"
        operator = "NotIn"
        values   = ["false"]
      }
    }

    reinvocation_policy = "IfNeeded"
  }
}

resource "k8sguard_pod_quota" "team_a" {
  namespace       = "team-a"
  pods            = 200
  jobs            = 50
  cron_jobs       = 10
  requests_cpu    = "20"
  requests_memory = "64Gi"
  limits_memory   = "96Gi"

  default_container_requests {
    cpu    = "100m"
    memory = "128Mi"
  }
  default_container_limits {
    memory = "512Mi"
  }
}

resource "k8sguard_pod_quota" "team_b" {
  namespace = "team-b"
  name      = "pods"
  pods      = 50
  waivers   = { QUOTA_PODS_ABOVE_CLUSTER_MAX = "upgrade fixture: kept in state across the upgrade" }
}

# Resources that draw warnings in 0.1.0 already (WEBHOOK_NO_CA,
# QUOTA_JOBS_ABOVE_PODS, QUOTA_PROTECTED_NAMESPACE): their `findings` are
# recomputed at every plan, so a reworded message would be a diff.
resource "k8sguard_mutating_webhook" "no_ca" {
  name = "k8sguard-upgrade-no-ca"

  webhook {
    name = "no-ca.upgrade.k8sguard.io"
    url  = var.url
    rule {
      api_groups   = ["apps"]
      api_versions = ["v1"]
      resources    = ["deployments"]
      operations   = ["CREATE", "UPDATE"]
    }
    namespace_selector {
      match_labels = { "upgrade" = "yes" }
    }
  }
}

resource "k8sguard_pod_quota" "more_jobs_than_pods" {
  namespace = "team-c"
  pods      = 10
  jobs      = 20
}

resource "k8sguard_pod_quota" "protected" {
  namespace = "kube-public"
  name      = "upgrade-pods"
  pods      = 20
}
