# team-a may run at most 200 pods, 50 Jobs and 10 CronJobs: a CronJob that
# spawns pods without end (Zalando incident 2) stops at the cap instead of
# taking the API server and etcd down. Containers without requests get
# 100m CPU / 128Mi, so the CPU and memory quotas can count them.
resource "k8sguard_pod_quota" "team_a" {
  namespace       = "team-a"
  pods            = 200
  jobs            = 50
  cron_jobs       = 10
  requests_cpu    = "20"
  requests_memory = "64Gi"
  limits_memory   = "96Gi"

  default_container_requests {
    cpu    = "100m"
    memory = "128Mi"
  }
  default_container_limits {
    memory = "512Mi"
  }
}
