# A deployed workload is imported by its name; every attribute is read back
# from the labels of its containers and from its proxy route.
terraform import tinyforge_workload.web web
