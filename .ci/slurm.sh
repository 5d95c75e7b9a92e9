#!/usr/bin/env bash
# A one-machine Slurm cluster for the cluster tests: munge, slurmctld and two slurmd "nodes" on
# localhost, under a private config, so a machine's own Slurm (if any) is neither read nor touched.
#
#   bash .ci/slurm.sh --install   # as root: apt-get installs slurmctld, slurmd, munge when missing
#   bash .ci/slurm.sh             # start (or find running) and wait until the nodes are idle
#   bash .ci/slurm.sh --stop      # stop the daemons this script started
#
# Idempotent: a running cluster is left as it is. Prints `SLURM_CONF=<path>` on success; the
# clients (sbatch, squeue, srun inside a job) need that variable to find this cluster.
# Why two nodes: multi-node DDP (`--nodes=2 --ntasks-per-node=1`) runs under Slurm itself, each
# node a slurmd of its own on its own port (one CPU each), all on 127.0.0.1.
set -euo pipefail

DIR=${RESTORELAB_SLURM_DIR:-/tmp/restorelab-slurm}
CONF=$DIR/slurm.conf
# Ports away from Slurm's defaults (6817, 6818), so a real cluster's daemons on this machine
# cannot answer for ours.
CTLD_PORT=${RESTORELAB_SLURM_PORT:-16817}
NODES=(node1 node2)
say() { echo "slurm.sh: $*" >&2; }
fail() { say "$*"; exit 1; }

alive() {  # pid file -> is that process running
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

stop() {
    local pidfile i
    for pidfile in "$DIR"/slurmd-*.pid "$DIR"/slurmctld.pid; do
        if alive "$pidfile"; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
    if alive "$DIR/munged.pid"; then
        munged --socket="$DIR/munge.socket" --stop >/dev/null 2>&1 || true
    fi
    for pidfile in "$DIR"/slurmd-*.pid "$DIR"/slurmctld.pid "$DIR/munged.pid"; do
        for i in $(seq 20); do alive "$pidfile" || break; sleep 0.5; done  # gone before a restart
    done
    say "stopped"
}

install() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    [ ${#missing[@]} = 0 ] && return 0
    [ "$(id -u)" = 0 ] || fail "${missing[*]} missing: as root, apt-get install ${missing[*]}"
    command -v apt-get >/dev/null || fail "${missing[*]} missing and no apt-get: install them"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
        || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null 2>&1) \
        || fail "apt-get install ${missing[*]} failed"
}

write_config() {
    mkdir -p "$DIR/state" "$DIR/spool"
    chmod 0755 "$DIR"
    local cpus=1 memory=2000 port=$((CTLD_PORT + 1)) node lines=""
    for node in "${NODES[@]}"; do
        lines+="NodeName=$node NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 Port=$port CPUs=$cpus RealMemory=$memory State=UNKNOWN"$'\n'
        port=$((port + 1))
    done
    # No cgroups (a container has no delegated cgroup tree): processes are tracked through
    # /proc, tasks are not pinned. A run that gets SIGTERM (scancel) saves its state and exits
    # well inside KillWait, after which Slurm sends SIGKILL. A requeued job may start again once
    # its credential has expired (cred_expire, 120 s by default): 10 s keeps the requeue test short.
    cat >"$CONF.tmp" <<EOF
# Written by .ci/slurm.sh: a private one-machine cluster for RestoreLab's cluster tests.
ClusterName=restorelab
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge.socket,cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=300
KillWait=30
Waittime=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
$lines
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

start_munge() {
    if alive "$DIR/munged.pid" && munge -n --socket="$DIR/munge.socket" | unmunge --socket="$DIR/munge.socket" >/dev/null 2>&1; then
        return 0
    fi
    if [ ! -s "$DIR/munge.key" ]; then
        mungekey --create --keyfile="$DIR/munge.key" >/dev/null 2>&1 \
            || dd if=/dev/urandom of="$DIR/munge.key" bs=1 count=1024 status=none
    fi
    chmod 0400 "$DIR/munge.key"
    munged --force --socket="$DIR/munge.socket" --key-file="$DIR/munge.key" \
        --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munged.seed" \
        || fail "munged did not start (see $DIR/munged.log)"
}

start_slurm() {
    if ! alive "$DIR/slurmctld.pid"; then
        slurmctld -f "$CONF" || fail "slurmctld did not start (see $DIR/slurmctld.log)"
    fi
    local node
    for node in "${NODES[@]}"; do
        if ! alive "$DIR/slurmd-$node.pid"; then
            mkdir -p "$DIR/spool/$node"
            slurmd -f "$CONF" -N "$node" || fail "slurmd -N $node did not start (see $DIR/slurmd-$node.log)"
        fi
    done
}

wait_idle() {  # until every node answers (idle, or busy with jobs), at most ~60 s
    local i state states ready
    for i in $(seq 60); do
        states=$(SLURM_CONF=$CONF sinfo -h -N -o "%t" 2>/dev/null || true)
        ready=${states:+yes}
        for state in $states; do
            case "$state" in idle|mix|alloc|comp) ;; *) ready="" ;; esac
        done
        [ -n "$ready" ] && return 0
        sleep 1
    done
    fail "the nodes did not come up (sinfo says: ${states:-nothing}; see $DIR/*.log)"
}

case "${1:-}" in
    --stop) stop; exit 0 ;;
    --install) install ;;
    "") ;;
    *) fail "usage: bash .ci/slurm.sh [--install|--stop]" ;;
esac

for tool in slurmctld slurmd sbatch munged; do
    command -v "$tool" >/dev/null || fail "$tool is not installed: run 'bash .ci/slurm.sh --install' as root"
done
[ "$(id -u)" = 0 ] || fail "slurmd runs jobs as their user and must be started as root"
mkdir -p "$DIR"
alive "$DIR/slurmctld.pid" || write_config  # a running cluster keeps its config
start_munge
start_slurm
wait_idle
echo "SLURM_CONF=$CONF"
