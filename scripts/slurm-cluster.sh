#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying a sweep's job array
# (and for the sweep's Slurm test): controller and node daemon, with their
# configuration, state and logs in DIR.
#
#   sudo ./scripts/slurm-cluster.sh start DIR   # installs slurm-wlm and munge if missing
#   export SLURM_CONF=DIR/slurm.conf            # what start prints; sbatch, squeue, sinfo use it
#   sudo ./scripts/slurm-cluster.sh stop DIR
#
# Needs root (the daemons run as root, SlurmUser=root) and Debian's
# slurm-wlm and munge. Exit status 3 means it cannot be set up here (the
# line says why); 1 that it was set up and failed.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
conf=$dir/slurm.conf
cannot() { echo "slurm-cluster: cannot set up here: $*" >&2; exit 3; }

# stop [DAEMON...] stops the daemons this script started in DIR (default:
# all of them), by the pids they wrote.
stop() {
  local daemons=("$@")
  [ ${#daemons[@]} -gt 0 ] || daemons=(slurmd slurmctld munged)
  for d in "${daemons[@]}"; do
    if [ -f "$dir/$d.pid" ]; then
      pid=$(cat "$dir/$d.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$dir/$d.pid"
    fi
  done
}

case $cmd in
stop)
  stop
  exit 0
  ;;
start) ;;
*) usage ;;
esac

[ "$(id -u)" = 0 ] || cannot "the daemons need root (run it with sudo)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || cannot "slurm-wlm and munge are missing and there is no apt-get"
  echo "slurm-cluster: installing slurm-wlm and munge (apt-get)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >"$dir/apt.log" 2>&1 ||
    { apt-get update >>"$dir/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >>"$dir/apt.log" 2>&1; } ||
    cannot "apt-get install slurm-wlm munge failed (see $dir/apt.log)"
fi

# munge authenticates the daemons and the commands: start it unless one runs.
if ! (munge -n | unmunge) >/dev/null 2>&1; then
  [ -f /etc/munge/munge.key ] || { mungekey --create >/dev/null 2>&1 || cannot "no /etc/munge/munge.key and mungekey failed"; chown munge:munge /etc/munge/munge.key; }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- munged 2>"$dir/munged.err" || cannot "munged did not start: $(tail -1 "$dir/munged.err")"
  for _ in $(seq 50); do (munge -n | unmunge) >/dev/null 2>&1 && break; sleep 0.1; done
  (munge -n | unmunge) >/dev/null 2>&1 || cannot "munge does not answer"
  pgrep -n -x munged >"$dir/munged.pid" # started here, so stopped here

fi

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
port=${SLURM_CLUSTER_PORT:-6917}
mkdir -p "$dir/state" "$dir/spool"
cat >"$conf" <<EOF
ClusterName=tinydigits
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

stop slurmd slurmctld # left from an earlier start in this folder
slurmctld -f "$conf" -i || { echo "slurm-cluster: slurmctld did not start (see $dir/slurmctld.log)" >&2; exit 1; }
slurmd -f "$conf" || { echo "slurm-cluster: slurmd did not start (see $dir/slurmd.log)" >&2; stop; exit 1; }
export SLURM_CONF=$conf
for _ in $(seq 100); do
  if timeout 10 sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 0.2
done
echo "slurm-cluster: the node did not come up: $(timeout 10 sinfo -h 2>&1 | head -1) (see $dir/slurmctld.log, $dir/slurmd.log)" >&2
stop
exit 1
