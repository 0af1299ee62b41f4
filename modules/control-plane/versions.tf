terraform {
  required_version = ">= 1.11"
  required_providers {
    k8sguard = {
      source = "k8sguard/k8sguard"
    }
  }
}
