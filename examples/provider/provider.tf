terraform {
  required_providers {
    k8sguard = {
      source = "k8sguard/k8sguard"
    }
  }
}

provider "k8sguard" {
  kubernetes {
    config_path    = "~/.kube/config"
    config_context = "prod"
  }

  aws {
    region = "eu-central-1"
  }

  protected_namespaces          = ["kube-system", "kube-public", "kube-node-lease", "monitoring"]
  max_webhook_timeout_seconds   = 5
  allow_burstable_control_plane = false
  max_pods_per_namespace        = 1500
}
