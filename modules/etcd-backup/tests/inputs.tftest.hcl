# Plan-only checks of every input validation (terraform test; the provider
# is mocked: these are Terraform's own checks and the module's wiring,
# before any AWS call). The apply against S3 is test/modules' terratest.

mock_provider "k8sguard" {}

variables {
  cluster_name = "prod-eu1"
  bucket_name  = "prod-eu1-etcd-backups"
  region       = "eu-central-1"
}

run "defaults_plan_and_render_the_agent" {
  command = plan

  assert {
    condition     = output.store_url == "s3://prod-eu1-etcd-backups/prod-eu1/"
    error_message = "store_url: the snapshots go under <cluster_name>/ by default."
  }
  assert {
    condition     = yamldecode(output.config_yaml).cluster_name == "prod-eu1"
    error_message = "config_yaml does not name the cluster."
  }
  assert {
    condition     = startswith(output.cloud_init, "#cloud-config")
    error_message = "cloud_init is not a #cloud-config document."
  }
}

run "cluster_name_with_a_slash" {
  command = plan
  variables { cluster_name = "prod/eu1" }
  expect_failures = [var.cluster_name]
}

run "bucket_name_with_capitals" {
  command = plan
  variables { bucket_name = "Prod-Backups" }
  expect_failures = [var.bucket_name]
}

run "bucket_name_with_two_dots" {
  command = plan
  variables { bucket_name = "prod..backups" }
  expect_failures = [var.bucket_name]
}

run "absolute_prefix" {
  command = plan
  variables { prefix = "/prod/" }
  expect_failures = [var.prefix]
}

run "s3_endpoint_without_scheme" {
  command = plan
  variables { s3_endpoint = "s3.example.com" }
  expect_failures = [var.s3_endpoint]
}

run "unknown_object_lock_mode" {
  command = plan
  variables { object_lock_mode = "LEGAL_HOLD" }
  expect_failures = [var.object_lock_mode]
}

run "fractional_retention_days" {
  command = plan
  variables { retention_days = 7.5 }
  expect_failures = [var.retention_days]
}

run "zero_noncurrent_days" {
  command = plan
  variables { noncurrent_days = 0 }
  expect_failures = [var.noncurrent_days]
}

run "etcd_endpoint_without_scheme" {
  command = plan
  variables { etcd_endpoints = ["127.0.0.1:2379"] }
  expect_failures = [var.etcd_endpoints]
}

run "no_etcd_endpoint" {
  command = plan
  variables { etcd_endpoints = [] }
  expect_failures = [var.etcd_endpoints]
}

run "key_group_with_a_space" {
  command = plan
  variables { etcd_key_group = "etcd backup" }
  expect_failures = [var.etcd_key_group]
}

run "interval_without_unit" {
  command = plan
  variables { schedule_interval = "30" }
  expect_failures = [var.schedule_interval]
}

run "retention_keeping_nothing" {
  command = plan
  variables { retention = { keep_last = 0 } }
  expect_failures = [var.retention]
}

run "max_age_without_unit" {
  command = plan
  variables { check_max_age = "2" }
  expect_failures = [var.check_max_age]
}

run "shrink_ratio_above_one" {
  command = plan
  variables { check_shrink_ratio = 1.5 }
  expect_failures = [var.check_shrink_ratio]
}

run "shrink_ratio_zero" {
  command = plan
  variables { check_shrink_ratio = 0 }
  expect_failures = [var.check_shrink_ratio]
}

run "unknown_mode" {
  command = plan
  variables { mode = "cron" }
  expect_failures = [var.mode]
}

run "download_over_http" {
  command = plan
  variables {
    etcdguard_download = { url = "http://example.com/etcdguard", sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
  }
  expect_failures = [var.etcdguard_download]
}

run "download_without_a_sha256" {
  command = plan
  variables {
    etcdguard_download = { url = "https://example.com/etcdguard", sha256 = "latest" }
  }
  expect_failures = [var.etcdguard_download]
}
