# A webhook whose CA another actor injects (cert-manager's cainjector):
# no ca_bundle in the configuration.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "url" { type = string }

resource "k8sguard_validating_webhook" "injected" {
  name = "k8sguard-upgrade-injected-ca"

  webhook {
    name = "injected.upgrade.k8sguard.io"
    url  = var.url
    rule {
      api_groups   = [""]
      api_versions = ["v1"]
      resources    = ["configmaps"]
      operations   = ["CREATE"]
    }
    namespace_selector {
      match_labels = { "upgrade" = "yes" }
    }
  }
}
