# A launch template is imported by its ID.
terraform import k8sguard_control_plane_launch_template.masters lt-0123456789abcdef0
