"""Adapters reach the world outside the service: transports (SSH to a host), schedulers (Slurm, plain
processes), runtimes (Singularity, Apptainer, ZIP) and staging (inputs in, outputs out). They know nothing
of jobs' lifecycle; the engine drives them. Each kind is chosen by name through ``registry``."""
