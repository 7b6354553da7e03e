#!/usr/bin/env bash
# A real one-node SLURM cluster for the tests marked `slurm` (tests/test_sweep_slurm.py).
#
#   bash .ci/slurm.sh start DIR   install Debian's slurmctld, slurmd, slurm-client and munge if
#                                 they are missing (needs root), write a one-node slurm.conf in
#                                 DIR, start munged, slurmctld and slurmd, wait until the node is
#                                 idle, and write DIR/env (SLURM_CONF and the munge socket) for
#                                 the caller to source.
#   bash .ci/slurm.sh stop DIR    stop the daemons started in DIR, by the PIDs recorded there.
#
# Everything the daemons write (state, spool, logs, the munge socket and key) stays in DIR. The
# node gets every core of this machine and a memory just below what is free, with a default
# memory per CPU so that one job does not take the node's whole memory.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
    echo "usage: bash .ci/slurm.sh start|stop DIR" >&2
    exit 2
fi

stop() {
    local name pid
    # jobs left by a failed test first: slurmd ends their processes
    if [[ -f "$dir/slurmctld.pid" && -f "$dir/slurm.conf" ]] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
        SLURM_CONF="$dir/slurm.conf" timeout 10 scancel --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 50); do
            [[ -z "$(SLURM_CONF="$dir/slurm.conf" timeout 10 squeue -h 2>/dev/null)" ]] && break
            sleep 0.2
        done
    fi
    # slurmd first (it reports to slurmctld), munged last (both daemons authenticate through it)
    for name in slurmd slurmctld munged; do
        [[ -f "$dir/$name.pid" ]] || continue
        pid=$(cat "$dir/$name.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$dir/$name.pid"
    done
}

if [[ "$cmd" == stop ]]; then
    stop
    exit 0
fi
if [[ "$cmd" != start ]]; then
    echo "usage: bash .ci/slurm.sh start|stop DIR" >&2
    exit 2
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
        || ! command -v munged >/dev/null; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "slurm.sh: slurmctld, slurmd, sbatch or munged is missing; install Debian's slurmctld slurmd" \
             "slurm-client munge (as root: apt-get install slurmctld slurmd slurm-client munge)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "slurm.sh: starting slurmctld and slurmd needs root (SlurmUser=root, as in CI)" >&2
    exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stop  # daemons of an earlier start in the same DIR
rm -rf "$dir/munge" "$dir/munge-run" "$dir/state" "$dir/spool"
mkdir -p "$dir/munge" "$dir/munge-run" "$dir/state" "$dir/spool" "$dir/log"
# munged runs as `munge`; it refuses a key directory that others may read and a socket
# directory that others may write to or cannot enter
chmod 755 "$dir" "$dir/munge-run"
chmod 700 "$dir/munge"
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
chown -R munge:munge "$dir/munge" "$dir/munge-run"
socket="$dir/munge-run/munge.socket"

setpriv --reuid munge --regid munge --init-groups \
    munged --foreground --socket="$socket" --key-file="$dir/munge/munge.key" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
    --pid-file="$dir/munge-run/munged.pid" >"$dir/log/munged.out" 2>&1 &
echo $! >"$dir/munged.pid"
for _ in $(seq 100); do
    [[ -S "$socket" ]] && break
    kill -0 "$(cat "$dir/munged.pid")" 2>/dev/null || break
    sleep 0.1
done
if ! munge --socket="$socket" -n | unmunge --socket="$socket" >/dev/null 2>&1; then
    echo "slurm.sh: munged did not start:" >&2
    cat "$dir/log/munged.out" "$dir/munge/munged.log" >&2 || true
    stop
    exit 1
fi

cores=$(nproc)
free_mb=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
real_mb=$((free_mb * 3 / 4))
mem_per_cpu=$((real_mb / cores / 2))
cat >"$dir/slurm.conf" <<EOF
ClusterName=resonet-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$mem_per_cpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
SlurmctldPort=$((20000 + RANDOM % 20000))
SlurmdPort=$((40000 + RANDOM % 20000))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.daemon.pid
SlurmdPidFile=$dir/slurmd.daemon.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=60
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cores RealMemory=$real_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
echo $! >"$dir/slurmctld.pid"
slurmd -D -N localhost -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
echo $! >"$dir/slurmd.pid"

state=""
for _ in $(seq 300); do
    state=$(sinfo -h -N -n localhost -o %T 2>/dev/null || true)
    [[ "$state" == idle ]] && break
    sleep 0.1
done
if [[ "$state" != idle ]]; then
    echo "slurm.sh: the node is not idle after 30 s (state: ${state:-unknown}):" >&2
    tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" "$dir/log/"*.out >&2 || true
    stop
    exit 1
fi
cat >"$dir/env" <<EOF
export SLURM_CONF=$SLURM_CONF
EOF
echo "slurm.sh: one-node SLURM cluster up ($cores CPUs, ${real_mb} MB) in $dir"
