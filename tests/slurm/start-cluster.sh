#!/usr/bin/env bash
# Bring up a real single-node SLURM cluster on 127.0.0.1 (munge, slurmctld, slurmd from Debian's
# packages) for tests/test_slurm.py. Needs root; idempotent: a cluster that already answers
# `sinfo` is left as it is. Usage: bash tests/slurm/start-cluster.sh [--stop]
#
# Settings that matter in a sandbox without systemd or cgroups (../shared/docs/STACK-NOTES.md):
# proctrack/linuxproc and task/none (no cgroups), cons_tres with CR_Core_Memory and DefMemPerCPU
# (else a job without --mem takes the whole node), daemons bound to 127.0.0.1 only, the node
# named after `hostname -s`, MinJobAge 3600 s so that `squeue --states=all` still reports finished
# jobs: there is no accounting database here, so Snakemake's SLURM executor is told to ask
# squeue (`--slurm-status-command squeue`) instead of sacct.
set -euo pipefail

conf_dir=/etc/slurm
state=/var/spool/cardiolens-slurm
logs=/var/log/cardiolens-slurm

stop() {
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    pkill -x munged 2>/dev/null || true
}

if [ "${1:-}" = "--stop" ]; then
    stop
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "start-cluster.sh: needs root (it installs Debian packages and starts daemons)" >&2
    exit 2
fi

if command -v sinfo >/dev/null 2>&1 && timeout 5 sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "start-cluster.sh: a SLURM cluster already answers: $(sinfo -h -o '%N %c CPUs %m MB %T')"
    exit 0
fi

missing=()
for bin in munged slurmctld slurmd sbatch squeue; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "start-cluster.sh: installing munge and SLURM (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q munge slurmctld slurmd slurm-client >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q munge slurmctld slurmd slurm-client >/dev/null; }
fi

stop
node=$(hostname -s)
cpus=$(nproc)
# Leave 1 GiB to the system; a job asks for its rule's mem_mb.
mem_mb=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))

mkdir -p "$conf_dir" "$state/ctld" "$state/d" "$logs" /run/munge /var/lib/munge /var/log/munge /etc/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge

cat >"$conf_dir/slurm.conf" <<EOF
# Written by cardiolens tests/slurm/start-cluster.sh: a one-node test cluster on 127.0.0.1.
ClusterName=cardiolens-test
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MinJobAge=3600
SchedulerType=sched/backfill
SlurmctldPort=6817
SlurmdPort=6818
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=main Nodes=${node} Default=YES MaxTime=INFINITE State=UP
EOF
rm -f "$conf_dir/cgroup.conf"  # slurm 22.05 has no CgroupPlugin=disabled; task/none needs no cgroups

su -s /bin/sh munge -c "/usr/sbin/munged --force"
slurmctld -D >"$logs/slurmctld.out" 2>&1 &
sleep 1
slurmd -D >"$logs/slurmd.out" 2>&1 &

for _ in $(seq 1 60); do
    if timeout 5 sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "start-cluster.sh: SLURM is up: $(sinfo -h -o '%N %c CPUs %m MB %T')"
        exit 0
    fi
    sleep 1
done
echo "start-cluster.sh: SLURM did not come up; last lines of the daemon logs:" >&2
tail -n 20 "$logs"/slurmctld.log "$logs"/slurmd.log "$logs"/*.out >&2 || true
exit 1
