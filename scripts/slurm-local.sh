#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the Slurm runner's test (tests/test_slurm.py) and for
# trying `train.runner = "slurm"` by hand. Run as root; safe to rerun (it does only what is missing):
#   sudo bash scripts/slurm-local.sh
# Installs Debian's slurm-wlm and munge with apt-get when missing, writes /etc/slurm/slurm.conf for
# localhost, and starts munged, slurmctld and slurmd without systemd (containers and CI have none).
# Exit 3: apt could not install the packages (no network/mirror); the test skips on that.
set -euo pipefail

MARK="# written by uchi scripts/slurm-local.sh"
CONF=/etc/slurm/slurm.conf
NODE=$(hostname -s)

if [ "$(id -u)" != 0 ]; then
    echo "slurm-local.sh: run as root (it installs packages and starts daemons)" >&2
    exit 2
fi

install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null && return 0
    export DEBIAN_FRONTEND=noninteractive
    # policy-rc.d exit 101 keeps the packages' postinst scripts from starting daemons we start below.
    local policy=/usr/sbin/policy-rc.d added=""
    if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy; chmod +x $policy; added=1; fi
    local ok=0
    { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; } || ok=$?
    [ -n "$added" ] && rm -f $policy
    if [ $ok != 0 ]; then
        echo "slurm-local.sh: apt-get could not install slurm-wlm and munge (exit $ok)" >&2
        exit 3
    fi
}

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
    [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null \
        || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge /etc/munge/munge.key
    chmod 0700 /etc/munge /var/log/munge /var/lib/munge
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return 0; sleep 0.2; done
    echo "slurm-local.sh: munged did not start; see /var/log/munge/munged.log" >&2
    exit 4
}

write_config() {
    if [ -e $CONF ] && ! grep -q "$MARK" $CONF; then return 0; fi  # someone else's cluster: leave it
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    # slurmd -C reports this node's real CPUs, sockets and memory in slurm.conf syntax.
    local hardware
    hardware=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ UpTime=.*//')
    cat >$CONF <<EOF
$MARK
ClusterName=uchi-local
SlurmctldHost=$NODE(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
# No cgroups in a container: track processes by parent id, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to scontrol for 10 minutes, long enough for the runner to read their state.
MinJobAge=600
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start_slurm() {
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
    for _ in $(seq 100); do
        if sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
            echo "slurm-local.sh: node $NODE is up"; sinfo; return 0
        fi
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
        sleep 0.3
    done
    echo "slurm-local.sh: the node did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
    sinfo -N -l >&2 || true
    exit 5
}

install_packages
start_munge
write_config
start_slurm
