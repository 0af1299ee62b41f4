# Control-plane nodes on a fixed-performance type with a fast, dedicated
# etcd volume. IMDSv2 only, encrypted volumes and no public IP are always set;
# the root block goes on the AMI's root device (DescribeImages).
resource "k8sguard_control_plane_launch_template" "masters" {
  name                 = "prod-control-plane"
  instance_type        = "m6i.large"
  image_id             = "ami-785db401"
  security_group_ids   = ["sg-0123456789abcdef0"]
  iam_instance_profile = "control-plane"
  user_data            = <<-EOT
    #!/bin/sh
    /opt/bootstrap/control-plane.sh
  EOT

  root_volume {
    size_gib = 50
    type     = "gp3"
  }

  etcd_volume {
    size_gib         = 100
    type             = "gp3"
    iops             = 6000
    throughput_mibps = 250
    device_name      = "/dev/sdf"
  }

  tags = { cluster = "prod" }
}

output "control_plane_launch_template_version" {
  value = k8sguard_control_plane_launch_template.masters.latest_version
}
