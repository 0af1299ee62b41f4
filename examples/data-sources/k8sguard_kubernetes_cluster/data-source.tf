# Reads the API server the provider is configured for (here: KUBECONFIG).
data "k8sguard_kubernetes_cluster" "this" {}

output "server_version" {
  value = data.k8sguard_kubernetes_cluster.this.server_version
}

output "minor" {
  value = data.k8sguard_kubernetes_cluster.this.minor
}
