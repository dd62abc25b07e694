#!/usr/bin/env bash
# The cluster tests run against a real single-node Slurm (Debian's slurmctld, slurmd, slurm-client, munge),
# started on 127.0.0.1 by the test session itself; openssh-server lets them try the SSH mode on 127.0.0.1.
# Installed with apt when we are root; nothing is started or enabled here (the packages' services stay off).
set -euo pipefail
have() { [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && [ -x /usr/sbin/munged ] && command -v sbatch >/dev/null 2>&1 && [ -x /usr/sbin/sshd ]; }
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Slurm (slurmctld slurmd slurm-client munge) and openssh-server for the cluster tests …"
  apt-get update -qq >/dev/null
  # policy-rc.d-less containers would start the daemons on install: keep them off, the tests start their own
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge openssh-server openssh-client >/dev/null || {
    echo "could not install Slurm; the cluster tests will be skipped" >&2; exit 0; }
else
  echo "Slurm is not installed; the cluster tests are skipped. To run them:" >&2
  echo "  sudo apt-get install slurmctld slurmd slurm-client munge openssh-server" >&2
fi
