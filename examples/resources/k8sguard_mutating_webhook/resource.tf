# Injects a sidecar into the pods of namespaces labelled sidecar-injection=enabled.
# With failure_policy "Ignore" (the default), pods are created without the
# sidecar while the injector is down instead of not at all.
variable "injector_ca_bundle" {
  description = "PEM CA that signed the injector's serving certificate."
  type        = string
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
    ca_bundle = var.injector_ca_bundle

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
    # Pods that already have the sidecar (re-created from an injected spec)
    # are not sent to the injector at all.
    match_condition {
      name       = "no-sidecar-yet"
      expression = "!object.spec.containers.exists(c, c.name == \"sidecar\")"
    }

    reinvocation_policy = "IfNeeded"
  }
}
