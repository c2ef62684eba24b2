#!/bin/bash
# Stop, start or check one test-host service started by up.sh (also used by fault-injection tests).
# Usage: ctl.sh stop|start|status sshd|slurmctld|slurmd|munge [BASE]
#   start  waits until the service is usable (sshd: answers with its own host key; slurm: sinfo responds and
#          the node is schedulable; munge: a credential round-trips); no-op if it already is.
#   stop   sshd: the listener AND its open sessions go (like the host dropping off the network); background
#          jobs launched over SSH keep running and are still reaped. slurmctld: state is saved and recovered
#          by the next start (jobs and job ids survive).
#   status exit 0 when usable.
set -euo pipefail
usage() { echo "usage: $0 stop|start|status sshd|slurmctld|slurmd|munge [BASE]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || usage
ACTION=$1 SVC=$2
case $ACTION in stop|start|status) ;; *) usage ;; esac
case $SVC in sshd|slurmctld|slurmd|munge) ;; *) usage ;; esac
BASE=$(realpath -m "${3:-${DLWS_TESTHOSTS_DIR:-/tmp/dlws-test-hosts}}")
PORT=2222
SOCK=$BASE/munge/run/munge.socket.2
export SLURM_CONF=$BASE/slurm/slurm.conf
HN=$(hostname -s)
die() { echo "ctl.sh: $*" >&2; exit 1; }
[ -d "$BASE" ] || die "$BASE does not exist: run up.sh first"
cd "$BASE"

# up.sh holds the lock and calls us; standalone calls take it so they can't race a concurrent up/down.
if [ "$ACTION" != status ] && [ -z "${DLWS_TESTHOSTS_LOCKED:-}" ]; then
  exec 9>>"$BASE/.lock"; flock -w 600 9 || die "lock $BASE/.lock busy"; export DLWS_TESTHOSTS_LOCKED=1
fi

# Alive and not a zombie: our daemons are orphaned to PID 1, which need not reap them (on this VM it is
# not an init), and kill -0 succeeds on a zombie.
running() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; [ "${s%% *}" != Z ]; }
# PID from a pid file, only if that process is alive and still ours (its command line mentions PATTERN),
# so a stale pid file whose number was reused can never make us signal an unrelated process.
ourpid() {
  local p; p=$(cat "$1" 2>/dev/null) || return 1
  [[ $p =~ ^[0-9]+$ ]] && running "$p" && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$2" && echo "$p"
}
stop_pid() {  # PID NAME [SECONDS]: TERM, wait, then KILL
  local p=$1 n=$2 t=${3:-15} i
  kill -TERM "$p" 2>/dev/null || return 0
  for ((i = 0; i < t * 10; i++)); do running "$p" || { echo "stopped $n ($p)"; return 0; }; sleep 0.1; done
  echo "$n ($p) ignored TERM for ${t}s: KILL"; kill -KILL "$p" 2>/dev/null || true
}
wait_for() {  # SECONDS WHAT CMD...: poll CMD every 0.1 s
  local t=$1 what=$2 i; shift 2
  for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done
  die "$SVC: not $what after ${t}s (logs under $BASE)"
}
# setsid: not in the caller's process group/session, so a CI step or a test runner killing its own group
# does not take the test hosts down; 9>&- so daemons do not inherit (and keep holding) the lock.
launch() {  # PIDFILE LOG CMD...
  local pf=$1 log=$2; shift 2
  nohup setsid "$@" >>"$log" 2>&1 </dev/null 9>&- &
  echo $! >"$pf"
}
port_listening() { [ -n "$(ss -Hltn "sport = :${1:-$PORT}" 2>/dev/null)" ]; }

munge_ok() { munge -S "$SOCK" -n 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1; }
ctld_ok() { timeout 5 sinfo -h >/dev/null 2>&1; }
node_state() { timeout 5 sinfo -h -N -n "$HN" -o %t 2>/dev/null | sort -u; }
# comp(leting) and alloc are busy-but-healthy; a trailing '*' (not responding) or down/drain is not.
node_ready() { [[ $(node_state) =~ ^(idle|mix|alloc|comp)$ ]]; }
# slurmctld only notices a dead slurmd after SlurmdTimeout (300 s) and keeps showing the node idle, so a
# restarted slurmd counts as up only once it listens again (SlurmdPort, default 6818)
slurmd_ok() { port_listening 6818 && node_ready; }
node_ready_or_resume() {
  node_ready && return 0
  # drained e.g. by a job that outlived KillWait; with ReturnToService=2 a plain DOWN returns by itself
  [[ $(node_state) =~ ^(drain|drng|down|fail)$ ]] && scontrol update NodeName="$HN" State=RESUME >/dev/null 2>&1
  return 1
}
HOSTKEY_B64=$(cut -d' ' -f2 ssh/host_key.pub 2>/dev/null || true)
sshd_ok() { [ -n "$HOSTKEY_B64" ] && ssh-keyscan -T 2 -t ed25519 -p "$PORT" 127.0.0.1 2>/dev/null | grep -qF -- "$HOSTKEY_B64"; }

MUNGED_PAT="--key-file=$BASE/munge/etc/munge.key"
CTLD_PAT="slurmctld -D -i -f $SLURM_CONF"
SLURMD_PAT="slurmd -D -f $SLURM_CONF"
TINI_PAT="sshd-supervisor $BASE "
SSHD_PAT="-f $BASE/ssh/sshd_config"

status() {
  case $SVC in
    munge) ourpid munge/run/munged.pid "$MUNGED_PAT" >/dev/null && munge_ok ;;
    slurmctld) ourpid slurm/slurmctld.main.pid "$CTLD_PAT" >/dev/null && ctld_ok ;;
    slurmd) ourpid slurm/slurmd.main.pid "$SLURMD_PAT" >/dev/null && slurmd_ok ;;
    sshd) ourpid ssh/tini.pid "$TINI_PAT" >/dev/null && sshd_ok ;;
  esac
}

# sshd runs under a small loop under `tini -s` rather than directly under tini: tini exits with its child,
# and the background jobs launched over SSH are orphans that only a live subreaper reaps at once. Keeping
# tini + this loop alive across `ctl.sh stop sshd` keeps those jobs reaped (a zombie would look alive to
# `kill -0`). The loop runs sshd while ssh/want-up exists; ssh/wake (a fifo) wakes it without polling.
# setpriv --pdeathsig: if tini is killed, the loop and then sshd die with it instead of living on as
# orphans that hold the port and keep restarting sshd behind a new tini's back.
SUPERVISOR='cd "$1/ssh" || exit 1; exec 3<>wake
while :; do
  if [ -e want-up ]; then
    setpriv --pdeathsig TERM /usr/sbin/sshd -D -e -f "$1/ssh/sshd_config" & echo $! > sshd.main.pid; wait $!
    read -r -t 0.5 -u 3 _ || true   # back off if sshd dies at once (bad config), but wake on start
  else
    read -r -t 5 -u 3 _ || true
  fi
done'

start() {
  local p
  case $SVC in
  munge)
    [ -s munge/etc/munge.key ] || die "no munge key: run up.sh first"
    if ! ourpid munge/run/munged.pid "$MUNGED_PAT" >/dev/null; then
      rm -f "$SOCK" "$SOCK.lock"   # stale after a killed munged: clear them rather than rely on munged to
      launch munge/runuser.pid munge/out.log runuser -u munge -- /usr/sbin/munged -F \
        "$MUNGED_PAT" --socket="$SOCK" --pid-file="$BASE/munge/run/munged.pid" \
        --log-file="$BASE/munge/log/munged.log" --seed-file="$BASE/munge/lib/seed"
    fi
    wait_for 10 "answering" munge_ok ;;
  slurmctld)
    [ -s "$SLURM_CONF" ] || die "no $SLURM_CONF: run up.sh first"
    # slurmctld creates it 0644, and `sacct -c` (as hpcuser) opens it O_WRONLY|O_APPEND even to read
    touch slurm/log/jobcomp.txt; chmod 666 slurm/log/jobcomp.txt
    # no -c: the saved state (jobs, next job id) in StateSaveLocation is recovered; -i: a state file
    # damaged by a KILL does not stop it from starting
    ourpid slurm/slurmctld.main.pid "$CTLD_PAT" >/dev/null ||
      launch slurm/slurmctld.main.pid slurm/slurmctld.out /usr/sbin/slurmctld -D -i -f "$SLURM_CONF"
    wait_for 30 "answering sinfo" ctld_ok
    if ourpid slurm/slurmd.main.pid "$SLURMD_PAT" >/dev/null; then wait_for 30 "with node ready" node_ready_or_resume; fi
    chmod 666 slurm/log/jobcomp.txt ;;
  slurmd)
    [ -s "$SLURM_CONF" ] || die "no $SLURM_CONF: run up.sh first"
    ourpid slurm/slurmd.main.pid "$SLURMD_PAT" >/dev/null ||
      launch slurm/slurmd.main.pid slurm/slurmd.out /usr/sbin/slurmd -D -f "$SLURM_CONF"
    wait_for 10 "listening on 6818" port_listening 6818
    if ourpid slurm/slurmctld.main.pid "$CTLD_PAT" >/dev/null; then
      wait_for 30 "with node ready" node_ready_or_resume
    else
      echo "slurmctld is not running: slurmd started, node state unknown until it is"
    fi ;;
  sshd)
    [ -s ssh/sshd_config ] && [ -n "$HOSTKEY_B64" ] || die "no ssh config/host key: run up.sh first"
    mkdir -p /run/sshd; chmod 755 /run/sshd   # privilege-separation dir; /run is emptied by a reboot
    touch ssh/want-up
    if ourpid ssh/tini.pid "$TINI_PAT" >/dev/null; then
      exec 4<>ssh/wake; echo >&4; exec 4>&-   # O_RDWR on a fifo never blocks
    else
      if port_listening && ! sshd_ok; then die "port $PORT is taken by another process: $(ss -Hltnp "sport = :$PORT")"; fi
      [ -p ssh/wake ] || { rm -f ssh/wake; mkfifo -m 600 ssh/wake; }
      # a listener left over from a previous reaper (e.g. tini was killed -9) would keep the port
      if p=$(ourpid ssh/sshd.main.pid "$SSHD_PAT"); then stop_pid "$p" "stale sshd-listener" 5; fi
      launch ssh/tini.pid ssh/sshd.log tini -s -- setpriv --pdeathsig KILL bash -c "$SUPERVISOR" sshd-supervisor "$BASE"
    fi
    wait_for 10 "answering with its host key on 127.0.0.1:$PORT" sshd_ok ;;
  esac
  echo "$SVC up"
}

stop() {
  local p s sessions
  case $SVC in
  munge)
    if p=$(ourpid munge/run/munged.pid "$MUNGED_PAT"); then stop_pid "$p" munged; else echo "munged not running"; fi
    # runuser normally exits with munged
    if p=$(ourpid munge/runuser.pid "$MUNGED_PAT"); then stop_pid "$p" runuser 5; fi ;;
  slurmctld)
    # TERM makes it save state; give it time to, rather than KILL early and lose jobs
    if p=$(ourpid slurm/slurmctld.main.pid "$CTLD_PAT"); then stop_pid "$p" slurmctld 30; else echo "slurmctld not running"; fi ;;
  slurmd)
    if p=$(ourpid slurm/slurmd.main.pid "$SLURMD_PAT"); then stop_pid "$p" slurmd 30; else echo "slurmd not running"; fi ;;
  sshd)
    rm -f ssh/want-up   # first, so the supervisor loop does not restart it
    if p=$(ourpid ssh/sshd.main.pid "$SSHD_PAT"); then
      # per-connection sshd processes are the listener's children; ending them drops open connections
      sessions=$(ps -o pid= --ppid "$p" 2>/dev/null || true)
      stop_pid "$p" sshd-listener 10
      for s in $sessions; do
        [ "$(readlink "/proc/$s/exe" 2>/dev/null)" = /usr/sbin/sshd ] && kill -TERM "$s" 2>/dev/null || true
      done
      [ -z "$sessions" ] || echo "dropped sshd sessions: $(echo $sessions)"
    else
      echo "sshd not running"
    fi
    # a listener the pid file does not name (e.g. overwritten by an orphaned loop): find it by the port,
    # but signal it only if its command line shows it is ours
    for ((i = 0; i < 50; i++)); do
      port_listening || break
      for p in $(ss -Hltnp "sport = :$PORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
        echo "$p" >ssh/port.pid; ourpid ssh/port.pid "$SSHD_PAT" >/dev/null && kill -TERM "$p" 2>/dev/null || true
      done
      sleep 0.1
    done
    port_listening && die "port $PORT still listening: $(ss -Hltnp "sport = :$PORT")" ;;
  esac
  true
}

case $ACTION in
  status) status ;;
  start) start ;;
  stop) stop ;;
esac
