# The k8sguard quickstart: what `make demo` applies against the ephemeral
# control plane. The provider reads the cluster from KUBECONFIG.
terraform {
  required_providers {
    k8sguard = {
      source = "k8sguard/k8sguard"
    }
  }
}

provider "k8sguard" {}

data "k8sguard_kubernetes_cluster" "this" {}

output "server_version" {
  description = "Version of the API server k8sguard is guarding."
  value       = data.k8sguard_kubernetes_cluster.this.server_version
}
