#!/usr/bin/env bash
# A real single-node Slurm (slurmctld + slurmd) with munge, as root, without systemd: what the cluster tests
# (tests/executors/) and benchmarks/executors.py submit to. Idempotent: a running cluster with the same
# configuration is left alone (well under a second); a changed one is restarted. Stop it with
# .ci/slurm-down.sh.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "slurm-up: needs root (apt-get, munge, slurmd); the cluster tests will skip" >&2
  exit 1
fi

node_idle() { sinfo -h -N -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; }


if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge: a key only munge can read, its folders owned by munge, the daemon run as munge
install -d -o munge -g munge -m 700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  su -s /bin/sh munge -c /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge | grep -q Success

host="$(hostname)"
# the machine's CPUs: `nproc` would honour OMP_NUM_THREADS (the tests set 1) and make a 1-CPU node
cpus="$(getconf _NPROCESSORS_ONLN)"
memory_mb=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 2048 ))
install -d /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf.new <<CONF
ClusterName=harness-ci
SlurmctldHost=${host}
AuthType=auth/munge
# a requeued (preempted) job may start again after this many seconds instead of 120
AuthInfo=cred_expire=10
CryptoType=crypto/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MinJobAge=300
KillWait=5
InactiveLimit=0
JobAcctGatherType=jobacct_gather/none
# without a default a job that asks no memory gets the whole node, and jobs run one at a time
DefMemPerCPU=2048
NodeName=${host} CPUs=${cpus} RealMemory=${memory_mb} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
if cmp -s /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf; then
  rm /etc/slurm/slurm.conf.new
  if node_idle; then exit 0; fi
else
  # a changed configuration (AuthInfo among it) takes a restart of the daemons, not a reconfigure
  mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf
  "$(dirname "$0")/slurm-down.sh"
  su -s /bin/sh munge -c /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi

pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
for _ in $(seq 100); do node_idle && exit 0; sleep 0.2; done
echo "slurm-up: the node did not come up idle; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
