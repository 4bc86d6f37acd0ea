"""Training jobs' pure core: what a job's replicas are told (TF_CONFIG), with no I/O."""
