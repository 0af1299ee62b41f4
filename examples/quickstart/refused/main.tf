# The dangerous shape k8sguard exists to refuse: the Jetstack/GKE outage
# webhook. It intercepts everything, in every namespace, and fails closed.
# `terraform plan` stops here with WEBHOOK_WILDCARD_RULE and friends, each
# naming the incident it prevents. `make demo` shows the refusal.
terraform {
  required_version = ">= 1.11"
  required_providers {
    k8sguard = {
      source = "k8sguard/k8sguard"
    }
  }
}

provider "k8sguard" {}

resource "k8sguard_validating_webhook" "opa_everything" {
  name = "opa-validating-webhook"

  webhook {
    name = "validating-webhook.openpolicyagent.org"
    service {
      namespace = "opa"
      name      = "opa"
      path      = "/v1/admit"
    }

    rule {
      api_groups   = ["*"]
      api_versions = ["*"]
      resources    = ["*"]
      operations   = ["*"]
      scope        = "*"
    }

    failure_policy = "Fail"
  }
}
