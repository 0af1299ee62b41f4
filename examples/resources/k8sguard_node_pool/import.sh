# A node group is imported by cluster_name:name.
terraform import k8sguard_node_pool.general prod:general
