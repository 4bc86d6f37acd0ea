"""Training jobs' core, free of the database and the API: what a job's replicas are told
(TF_CONFIG, host ports), and what is read from their files (checkpoint steps, scalars)."""
