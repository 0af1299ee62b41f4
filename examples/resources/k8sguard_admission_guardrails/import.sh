# Import by the set's name (the label k8sguard.io/guardrails on its policies).
terraform import k8sguard_admission_guardrails.this k8sguard
