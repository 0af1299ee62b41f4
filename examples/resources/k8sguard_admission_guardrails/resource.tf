# k8sguard's rules inside the API server, for every object whatever creates
# it: the OPA webhook from its own manifests, a team's CronJob, a Weave
# Scope Service applied with kubectl. Control-plane safety rules deny;
# workload hygiene warns (kubectl and Helm show the Warning). Here the
# spread rule denies too, and namespaces labelled as sandboxes are exempt.
resource "k8sguard_admission_guardrails" "this" {
  actions = {
    WORKLOAD_NO_SPREAD = "deny"
    WORKLOAD_CPU_LIMIT = "audit"
  }
  exempt_namespace_labels = {
    "guardrails.k8sguard.io/exempt" = "true"
  }
}

# One object can be exempted from one waivable rule, with a reason:
#   metadata:
#     annotations:
#       k8sguard.io/waive.WORKLOAD_NO_SPREAD: "single-node dev cluster"
