#!/bin/bash
# Stop everything scripts/testhosts/up.sh started under BASE, by the PIDs it recorded.
# Usage: down.sh [--purge] [BASE]    BASE defaults to $DLWS_TESTHOSTS_DIR, else /tmp/dlws-test-hosts
# Keys, Slurm state, apptainer and the image stay in BASE so the next up.sh is fast; --purge deletes BASE.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PURGE=0 ARG=
for a in "$@"; do
  case $a in
    --purge) PURGE=1 ;;
    -*) echo "usage: $0 [--purge] [BASE]" >&2; exit 2 ;;
    *) [ -z "$ARG" ] || { echo "usage: $0 [--purge] [BASE]" >&2; exit 2; }; ARG=$a ;;
  esac
done
BASE=$(realpath -m "${ARG:-${DLWS_TESTHOSTS_DIR:-/tmp/dlws-test-hosts}}")
CTL=$HERE/ctl.sh
[ -d "$BASE" ] || { echo "nothing at $BASE"; exit 0; }
cd "$BASE"
exec 9>>"$BASE/.lock"; flock -w 600 9 || { echo "down.sh: $BASE/.lock busy" >&2; exit 1; }
export DLWS_TESTHOSTS_LOCKED=1 SLURM_CONF=$BASE/slurm/slurm.conf

running() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; [ "${s%% *}" != Z ]; }
descendants() {  # PID: all its descendants, breadth-first
  ps -e -o pid=,ppid= | awk -v r="$1" '{ kids[$2] = kids[$2] " " $1 }
    END { q = r; while (q != "") { n = split(q, a, " "); q = ""
          for (i = 1; i <= n; i++) { m = split(kids[a[i]], b, " "); for (j = 1; j <= m; j++) { print b[j]; q = q " " b[j] } } } }'
}

# Jobs first, so no slurmstepd or job process outlives slurmd.
if "$CTL" status slurmctld "$BASE" 2>/dev/null; then
  JOBS=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')
  if [ -n "${JOBS// /}" ]; then
    echo "scancel $JOBS"; scancel $JOBS || true
    for i in $(seq 50); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi
"$CTL" stop slurmd "$BASE" || true
"$CTL" stop slurmctld "$BASE" || true
"$CTL" stop munge "$BASE" || true
"$CTL" stop sshd "$BASE" || true

# The reaper (tini -s + sshd loop) outlives `ctl.sh stop sshd` on purpose; here it goes, with whatever was
# launched in the background over SSH and reparented to it.
TINI=$(cat ssh/tini.pid 2>/dev/null || true)
if [[ $TINI =~ ^[0-9]+$ ]] && running "$TINI" && tr '\0' ' ' <"/proc/$TINI/cmdline" | grep -qF "sshd-supervisor $BASE "; then
  KIDS=$(descendants "$TINI")
  kill -TERM "$TINI" $KIDS 2>/dev/null || true
  for i in $(seq 30); do running "$TINI" || break; sleep 0.1; done
  for p in $TINI $KIDS; do running "$p" && kill -KILL "$p" 2>/dev/null || true; done
  echo "stopped tini reaper ($TINI)${KIDS:+ and $(echo $KIDS | wc -w) descendant(s)}"
fi

# Safety net for daemons whose pid files were lost: any slurmctld/slurmd/munged/sshd/tini whose command
# line names this BASE, and any sshd supervisor loop for this BASE, is ours.
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
  case $(readlink "$d/exe" 2>/dev/null) in
    /usr/sbin/slurmctld|/usr/sbin/slurmd|/usr/sbin/munged|/usr/sbin/sshd|/usr/bin/tini) [[ $cmd == *"$BASE/"* ]] || continue ;;
    *) [[ $cmd == *"sshd-supervisor $BASE "* ]] || continue ;;
  esac
  running "$p" && { echo "leftover ${cmd:0:60} ($p): KILL"; kill -KILL "$p" 2>/dev/null || true; }
done

LISTEN=$(ss -Hltnp 'sport = :2222' || true)
if [ -n "$LISTEN" ]; then echo "down.sh: port 2222 still in use by another process: $LISTEN" >&2; exit 1; fi

if [ $PURGE = 1 ]; then
  # only a directory up.sh created: never rm -rf an arbitrary path given by mistake
  [ -e "$BASE/.dlws-testhosts" ] || { echo "down.sh: $BASE has no .dlws-testhosts marker; not deleting" >&2; exit 1; }
  cd /; rm -rf "$BASE"; echo "BASE=$BASE purged"
else
  echo "BASE=$BASE down (keys, state, image kept)"
fi
