# Import by the MutatingWebhookConfiguration's name.
terraform import k8sguard_mutating_webhook.sidecar_injector sidecar-injector
