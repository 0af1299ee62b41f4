# k8sguard complete: the three modules together, as a platform team adopts
# them for one cluster.
#
#   cluster-guardrails  pod caps for every team namespace, webhooks only where
#                       namespaces opt in (Zalando CronJob flood, Jetstack/GKE
#                       webhook outage)
#   etcd-backup         a locked, versioned, encrypted bucket and etcdguard on
#                       every control-plane node (Zalando etcdctl del -r)
#   control-plane       a hardened control-plane launch template that installs
#                       etcdguard, and node pools that fit the pod range
#                       (Zalando T2 etcd, Love Holidays pod range exhaustion)
#
# The provider reads the cluster from KUBECONFIG and AWS from the usual
# credential chain; `aws_endpoints` points it at an S3/EC2/EKS-compatible
# endpoint instead (tests use moto).
terraform {
  required_version = ">= 1.11"
  required_providers {
    k8sguard = {
      source = "k8sguard/k8sguard"
    }
  }
}

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.aws_endpoints
  }
}

module "guardrails" {
  source = "../../modules/cluster-guardrails"

  namespaces = var.teams
  webhooks = [
    {
      name = "ingress-policy"
      kind = "validating"
      url  = var.policy_webhook_url
      rules = [{
        api_groups   = ["networking.k8s.io"]
        api_versions = ["v1"]
        resources    = ["ingresses"]
        operations   = ["CREATE", "UPDATE"]
      }]
      opt_in_labels = { "policy.k8sguard.io/enabled" = "true" }
    },
  ]
}

module "etcd_backup" {
  source = "../../modules/etcd-backup"

  cluster_name   = var.cluster_name
  bucket_name    = var.backup_bucket
  region         = var.region
  s3_endpoint    = lookup(var.aws_endpoints, "s3", null)
  retention_days = 14
  force_destroy  = var.force_destroy_backups
}

module "control_plane" {
  source = "../../modules/control-plane"

  cluster_name = var.cluster_name
  control_plane = {
    instance_type        = "m6i.large"
    image_id             = var.control_plane_image_id
    iam_instance_profile = var.control_plane_instance_profile
  }
  etcd_backup_cloud_init = module.etcd_backup.cloud_init
  bootstrap_script       = <<-EOT
    #!/bin/sh
    # Your control-plane bootstrap (kubeadm init/join) goes here.
    exec /opt/bootstrap/control-plane.sh
  EOT

  node_role_arn = var.node_role_arn
  subnet_ids    = var.subnet_ids
  pod_ip_mode   = "node_cidr"
  pod_cidr      = var.pod_cidr
  node_pools = {
    general = { instance_types = ["m6i.xlarge"], min_size = 2, desired_size = 2, max_size = 10, max_pods_per_node = 110 }
    batch   = { instance_types = ["c6i.2xlarge"], min_size = 0, desired_size = 0, max_size = 4, max_pods_per_node = 110, labels = { workload = "batch" } }
  }
}
