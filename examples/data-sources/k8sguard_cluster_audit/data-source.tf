# Every plan reports the live objects that break k8sguard's rules, whatever
# created them, as a check warning (Terraform >= 1.5): webhook
# configurations like the Jetstack outage's, CronJobs like Zalando's,
# exposed dashboards, spreadless workloads, namespaces without a pod quota.
check "cluster_audit" {
  data "k8sguard_cluster_audit" "this" {}

  assert {
    condition = data.k8sguard_cluster_audit.this.errors == 0
    error_message = join("\n", [
      for f in data.k8sguard_cluster_audit.this.findings :
      "[${f.rule_id}] ${f.kind} ${f.namespace}/${f.name}: ${f.message}" if f.severity == "error"
    ])
  }
}

# Or read it outside a check, to list the findings:
data "k8sguard_cluster_audit" "teams" {
  namespaces = ["team-a", "team-b"]
}

output "team_findings" {
  value = [for f in data.k8sguard_cluster_audit.teams.findings : "[${f.rule_id}] ${f.kind} ${f.namespace}/${f.name}"]
}
