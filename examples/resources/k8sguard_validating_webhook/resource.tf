# Open Policy Agent checks Ingresses, only in the namespaces that opt in with
# the label opa-policy=enabled. kube-system, kube-public, kube-node-lease and
# OPA's own namespace are always excluded, so a dead OPA cannot block the
# control plane (the Jetstack/GKE outage), and the hook is not registered
# until the opa service has ready endpoints.
variable "opa_ca_bundle" {
  description = "PEM CA that signed OPA's serving certificate."
  type        = string
}

resource "k8sguard_validating_webhook" "opa" {
  name = "opa-validating-webhook"

  webhook {
    name = "validating-webhook.openpolicyagent.org"
    service {
      namespace = "opa"
      name      = "opa"
      path      = "/v1/admit"
    }
    ca_bundle = var.opa_ca_bundle

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
    # The control plane's own identities never wait for OPA. Checked at plan
    # with the API server's CEL compiler.
    match_condition {
      name       = "not-control-plane"
      expression = "!request.userInfo.username.startsWith(\"system:\")"
    }

    failure_policy  = "Fail"
    timeout_seconds = 3
  }
}
