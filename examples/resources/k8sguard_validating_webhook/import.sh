# Import by the ValidatingWebhookConfiguration's name.
terraform import k8sguard_validating_webhook.opa opa-validating-webhook
