# Import by namespace/name.
terraform import k8sguard_pod_quota.team_a team-a/k8sguard-pods
