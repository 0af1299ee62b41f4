# A fail-closed webhook whose backend is a service: it is registered only
# once the service has ready endpoints (require_ready_backend defaults to
# true with failure_policy "Fail").
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

resource "k8sguard_validating_webhook" "opa" {
  name = "opa-validating-webhook"
  webhook {
    name = "validating-webhook.openpolicyagent.org"
    service {
      namespace = "opa"
      name      = "opa"
      path      = "/v1/admit"
    }
    ca_bundle = "unused: the API server never calls this backend in the test"
    rule {
      api_groups   = ["networking.k8s.io"]
      api_versions = ["v1"]
      resources    = ["ingresses"]
      operations   = ["CREATE", "UPDATE"]
    }
    namespace_selector {
      match_labels = { "opa-policy" = "enabled" }
    }
    failure_policy = "Fail"
  }
}
