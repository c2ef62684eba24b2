#!/bin/bash
# Bring up the integration-test hosts on this machine (Debian 12, as root), all state under BASE:
# sshd on 127.0.0.1:2222 (key-only, user hpcuser), munge, single-node Slurm (partitions debug + batch),
# Apptainer (+ `singularity` alias) and a busybox SIF image, rootless podman as `docker` with a busybox image
# (DOCKER apps). Adapted from the verified recipe in
# /work/shared/reference/test-hosts/ (see its README for the reasons behind most steps).
# Usage: up.sh [BASE]      BASE defaults to $DLWS_TESTHOSTS_DIR, else /tmp/dlws-test-hosts
# Idempotent: exits at once if already up; restarts dead services reusing BASE's keys, state and image;
# the slow steps (apt, the sid download, the image build) run only when their outputs are missing.
# Writes BASE/hosts.env (for `set -a; . BASE/hosts.env; set +a`) and BASE/hosts.json for the tests.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=$(realpath -m "${1:-${DLWS_TESTHOSTS_DIR:-/tmp/dlws-test-hosts}}")
CTL=$HERE/ctl.sh
T0=${EPOCHREALTIME//[!0-9]/}
tick() { local e=$((${EPOCHREALTIME//[!0-9]/} - T0)); printf '[%3d.%02ds] %s\n' $((e / 1000000)) $((e / 10000 % 100)) "$*"; }
die() { echo "up.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
[ "$(uname -m)" = x86_64 ] || die "x86_64 only (the sid glibc loader path below is amd64's)"

mkdir -p "$BASE"; chmod 755 "$BASE"; cd "$BASE"   # 755: hpcuser needs the munge socket and bin/ under it
touch .dlws-testhosts                              # marks BASE as ours, so `down.sh --purge` may delete it
# parallel callers (e.g. several test workers each running up.sh) queue here instead of racing
exec 9>>"$BASE/.lock"; flock -w 900 9 || die "timed out waiting for $BASE/.lock"
export DLWS_TESTHOSTS_LOCKED=1

# Bump LAYOUT whenever a generated configuration below changes: hosts brought up by an older layout
# then take the slow path once and are reconfigured (write_if_changed restarts what changed).
LAYOUT=7-cpus${DLWS_TESTHOSTS_CPUS:-16}
# Fast path. ctl.sh status slurmd = node idle/mix (or alloc/comp: busy is up too), which needs
# munge + slurmctld as well.
if [ -s hosts.env ] && grep -qx "DLWS_TESTHOSTS_LAYOUT=$LAYOUT" hosts.env && [ -s images/busybox.sif ] && [ -e podman/.ready ] && "$CTL" status sshd "$BASE" && "$CTL" status slurmd "$BASE"; then
  tick "already up"; echo "BASE=$BASE up"; exit 0
fi

# 0. Debian packages; a fresh machine may have no package lists yet, hence the update-and-retry
PKGS=(openssh-server slurm-wlm munge tini patchelf squashfs-tools uidmap squashfuse fuse2fs busybox-static
      python3 python3-requests curl podman runc acl)
MISSING=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || MISSING+=("$p")
done
if [ ${#MISSING[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apti() { apt-get install -y -q "${MISSING[@]}" >apt-install.log 2>&1; }
  if ! apti; then
    echo "apt-get install failed ($(grep -m1 '^E:' apt-install.log || true)); apt-get update and retry"
    apt-get update -q >apt-update.log 2>&1 || echo "apt-get update reported errors (see $BASE/apt-update.log)"
    apti || { tail -20 apt-install.log; die "apt-get install failed"; }
  fi
  tick "apt installed: ${MISSING[*]}"
else
  tick "apt packages present"
fi

# 1. user and keys (kept across down/up so clients' known host key stays valid)
id hpcuser >/dev/null 2>&1 || useradd -m -s /bin/bash hpcuser
usermod -p '*' hpcuser   # useradd leaves it locked ('!'), and with UsePAM no sshd refuses locked accounts
mkdir -p ssh; chmod 700 ssh   # root only: the tests run as root and read ssh/client_key
[ -s ssh/host_key ] || { rm -f ssh/host_key ssh/host_key.pub; ssh-keygen -q -t ed25519 -N '' -C dlws-test-host -f ssh/host_key; }
[ -s ssh/client_key ] || { rm -f ssh/client_key ssh/client_key.pub; ssh-keygen -q -t ed25519 -N '' -C dlws-test-client -f ssh/client_key; }
install -d -m 700 -o hpcuser -g hpcuser /home/hpcuser/.ssh
install -m 600 -o hpcuser -g hpcuser ssh/client_key.pub /home/hpcuser/.ssh/authorized_keys
tick "user hpcuser and keys"

# 2. Apptainer: Debian 12 has none; sid's needs glibc >= 2.38 (bookworm: 2.36), so sid's libc6 is unpacked
#    beside it and the binaries re-pointed with patchelf; nothing system-wide, no setuid.
retry() { local n; for n in 1 2 3; do "$@" && return 0; echo "retry $n/3: $*"; sleep $((n * 2)); done; return 1; }
if [ ! -e apptainer/.ready ]; then
  rm -rf apt debs glibc apptainer
  mkdir -p apt/lists/partial apt/cache/archives/partial debs
  # the machine's own Debian mirror (the only one reachable here), with the 'sid' suite
  MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR sid main" >apt/sid.list
  APTO=(-o "Dir::Etc::SourceList=$BASE/apt/sid.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$BASE/apt/lists" -o "Dir::Cache=$BASE/apt/cache")
  retry apt-get -q "${APTO[@]}" update >apt/update.log 2>&1 || { tail apt/update.log; die "sid apt-get update failed"; }
  # as root apt warns that the download is unsandboxed: harmless
  (cd debs && retry apt-get -q "${APTO[@]}" download apptainer libc6 >../apt/download.log 2>&1) ||
    { tail apt/download.log; die "downloading apptainer/libc6 from sid failed"; }
  mkdir -p glibc apptainer
  dpkg-deb -x debs/libc6_*.deb glibc; dpkg-deb -x debs/apptainer_*.deb apptainer
  LD=$BASE/glibc/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
  RP=$BASE/glibc/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
  for f in apptainer/usr/bin/apptainer apptainer/usr/lib/x86_64-linux-gnu/apptainer/bin/starter; do
    patchelf --set-interpreter "$LD" --force-rpath --set-rpath "$RP" "$f"; done
  patchelf --force-rpath --set-rpath "$RP" apptainer/usr/lib/x86_64-linux-gnu/apptainer/lib/offsetpreload.so
  ln -sfn ../etc apptainer/usr/etc; ln -sfn ../../etc apptainer/usr/lib/etc   # where the relocated binary looks
  mkdir -p apptainer/usr/lib/var/lib/apptainer/mnt/session
  apptainer/usr/bin/apptainer --version >/dev/null || die "patched apptainer does not run"
  touch apptainer/.ready
  tick "apptainer unpacked from sid"
fi
mkdir -p bin
ln -sfn "$BASE/apptainer/usr/bin/apptainer" bin/apptainer; ln -sfn "$BASE/apptainer/usr/bin/apptainer" bin/singularity
chmod 666 /dev/fuse   # 0600 on this VM (and again after a reboot); squashfuse needs it for unprivileged SIF mounts
tick "$(bin/apptainer --version)"

# 3. busybox SIF built locally (no registry); runscript `exec "$@"` so `singularity run IMG CMD...` runs CMD
if [ ! -s images/busybox.sif ]; then
  R=rootfs; rm -rf $R
  mkdir -p $R/bin $R/etc $R/tmp $R/proc $R/sys $R/dev $R/home $R/root $R/var/tmp; chmod 1777 $R/tmp $R/var/tmp
  cp /bin/busybox $R/bin/; for a in $($R/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
  mkdir -p $R/usr; ln -sfn ../bin $R/usr/bin; ln -sfn bin $R/sbin
  echo 'root:x:0:0:root:/root:/bin/sh' >$R/etc/passwd; echo 'root:x:0:' >$R/etc/group
  mkdir -p $R/.singularity.d/env; printf '#!/bin/sh\nexec "$@"\n' >$R/.singularity.d/runscript
  chmod 755 $R/.singularity.d/runscript
  mkdir -p images; chmod 755 images
  # root cannot build here without a user namespace (the VM withholds CAP_SYS_RESOURCE); build beside, then
  # rename, so an interrupted build never leaves a truncated busybox.sif that would pass the check above
  rm -f images/busybox.tmp.sif
  APPTAINER_USERNS=1 bin/apptainer -s build images/busybox.tmp.sif $R >images/build.log 2>&1 ||
    { tail images/build.log; die "image build failed"; }
  chmod 644 images/busybox.tmp.sif; mv images/busybox.tmp.sif images/busybox.sif; rm -rf $R
  tick "images/busybox.sif built"
fi

# 3b. DOCKER apps: Debian's podman, rootless as hpcuser, answering the `docker` CLI as bin/docker (first on
#     PATH in SSH sessions, and so in the Slurm jobs they submit: a Docker client elsewhere on the machine is
#     never picked), with a busybox image imported from a tar (no registry). This host's configuration, not
#     the product's: runc (crun refuses the hybrid cgroup layout), cgroupfs (no systemd user session), the
#     host's network (no /dev/net/tun for slirp4netns), keep-id (the uid inside is hpcuser's outside, so files
#     written under `docker run --user $(id -u):$(id -g)` belong to hpcuser), vfs storage, ulimits within the
#     current hard limits (root here lacks CAP_SYS_RESOURCE). Store and state live under BASE/podman.
DOCKER_IMAGE=localhost/busybox:latest
as_hpcuser() {  # SECONDS COMMAND...: as hpcuser in a clean environment like an SSH session's, time-limited
  local limit=$1; shift
  (cd / && timeout -k 10 "$limit" runuser -u hpcuser -- env -i HOME=/home/hpcuser USER=hpcuser LOGNAME=hpcuser \
    PATH=/usr/bin:/bin "$@")
}
next_subid() { awk -F: 'BEGIN { e = 100000 } $2 + $3 > e { e = $2 + $3 } END { print e }' "$1" 2>/dev/null || echo 100000; }
for f in subuid subgid; do   # rootless podman maps the container's other ids to hpcuser's subordinate ones
  [ -e /etc/$f ] || install -m 644 /dev/null /etc/$f   # usermod refuses to add to a file that is missing
  grep -q '^hpcuser:' /etc/$f && continue
  s=$(next_subid /etc/$f)
  usermod "--add-${f}s" "$s-$((s + 65535))" hpcuser || die "usermod --add-${f}s failed for hpcuser"
done
command -v podman >/dev/null || die "podman is not installed (apt list above)"
lim() { local v; v=$(ulimit "-H$1"); if [ "$v" = unlimited ] || [ "$v" -gt "$2" ]; then echo "$2"; else echo "$v"; fi; }
NOFILE=$(lim n 65536) NPROC=$(lim u 32768)
install -d -m 755 -o hpcuser -g hpcuser podman podman/storage podman/run podman/tmp \
  /home/hpcuser/.config /home/hpcuser/.config/containers
CONF=/home/hpcuser/.config/containers
cat >"$CONF/containers.conf.tmp" <<EOF
# generated by scripts/testhosts/up.sh: rootless podman for the DOCKER runtime tests
[containers]
netns = "host"
userns = "keep-id"
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
# no pids cgroup asked for: a rootless login may have no cgroup of its own to put one in
pids_limit = 0
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$BASE/podman/tmp"
EOF
cat >"$CONF/storage.conf.tmp" <<EOF
# generated by scripts/testhosts/up.sh
[storage]
driver = "vfs"
graphroot = "$BASE/podman/storage"
runroot = "$BASE/podman/run"
EOF
STORAGE_CHANGED=0
cmp -s "$CONF/storage.conf.tmp" "$CONF/storage.conf" || STORAGE_CHANGED=1
for f in containers.conf storage.conf; do chown hpcuser:hpcuser "$CONF/$f.tmp"; mv -f "$CONF/$f.tmp" "$CONF/$f"; done
ln -sfn /usr/bin/podman bin/docker
if [ $STORAGE_CHANGED = 1 ]; then   # a store moved: podman's pause process must not keep the old one
  as_hpcuser 60 podman system migrate >podman/migrate.log 2>&1 || { tail podman/migrate.log; die "podman system migrate failed (as hpcuser)"; }
fi
if [ ! -e podman/.ready ]; then
  if ! as_hpcuser 60 podman image exists "$DOCKER_IMAGE" 2>/dev/null; then
    R=podman/rootfs; rm -rf $R podman/busybox.tar
    mkdir -p $R/bin $R/etc $R/tmp $R/proc $R/sys $R/dev $R/home $R/root $R/var/tmp; chmod 1777 $R/tmp $R/var/tmp
    cp /bin/busybox $R/bin/; for a in $($R/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
    mkdir -p $R/usr; ln -sfn ../bin $R/usr/bin; ln -sfn bin $R/sbin
    echo 'root:x:0:0:root:/root:/bin/sh' >$R/etc/passwd; echo 'root:x:0:' >$R/etc/group
    tar -C $R -cf podman/busybox.tar . && chmod 644 podman/busybox.tar || die "could not pack the busybox root file system"
    as_hpcuser 300 podman import --change 'CMD ["/bin/sh"]' "$BASE/podman/busybox.tar" "$DOCKER_IMAGE" \
      >podman/import.log 2>&1 || { tail podman/import.log; die "podman import of the busybox image failed (as hpcuser)"; }
    rm -rf $R podman/busybox.tar
    tick "podman image $DOCKER_IMAGE imported"
  fi
  # what the product's command line needs of this engine: a named --rm container as the login, a bind mount
  rm -f podman/.smoke; as_hpcuser 60 podman rm -f dlws-testhosts-smoke >/dev/null 2>&1 || true
  as_hpcuser 120 podman run --rm --name dlws-testhosts-smoke --user "$(id -u hpcuser):$(id -g hpcuser)" \
    -v "$BASE/podman:/TapisExec" "$DOCKER_IMAGE" sh -c 'echo ok > /TapisExec/.smoke' >podman/smoke.log 2>&1 ||
    { tail podman/smoke.log; die "podman cannot run a container as hpcuser (see $BASE/podman/smoke.log)"; }
  [ "$(stat -c %U podman/.smoke 2>/dev/null)" = hpcuser ] || die "a file the container wrote is not hpcuser's (keep-id?)"
  rm -f podman/.smoke; touch podman/.ready
fi
tick "$(as_hpcuser 30 podman --version) as hpcuser, answering docker"

# 4. configuration, rewritten every run (the hostname may differ after a reboot/new CI machine); a
#    running daemon whose config changed is restarted below.
write_if_changed() {  # FILE < content; status 0 if FILE changed
  local new; new=$(cat)
  [ -f "$1" ] && [ "$(cat "$1")" = "$new" ] && return 1
  printf '%s\n' "$new" >"$1.tmp"; mv "$1.tmp" "$1"
}
# Every command a client sends over SSH is logged (time, client address:port = the connection, command)
# before it runs, so tests and benchmarks count commands and connections on the host side, as an
# administrator watching a login node would. sftp arrives here as "internal-sftp".
mkdir -p commandlog; chmod 755 commandlog
# A host that accepts connections and then stops answering, for the hung-host tests: when a command
# matches the glob in commandlog/freeze/on, it runs, and then the host "freezes": the command's answer is
# held back, the open SFTP sessions stop (SIGSTOP), and every later command or SFTP session waits without
# running, until commandlog/freeze/frozen is removed (tests/integration/test_hung_host.py).
mkdir -p commandlog/freeze; chown hpcuser:hpcuser commandlog/freeze; chmod 755 commandlog/freeze
cat >commandlog/command-log.sh <<'WRAPPER'
#!/bin/bash
cmd=${SSH_ORIGINAL_COMMAND-}
read -r client_ip client_port _ <<<"$SSH_CONNECTION"
printf '%s\t%s:%s\t%s\n' "$EPOCHREALTIME" "$client_ip" "$client_port" "${cmd//$'\n'/\\n}" >>"${DLWS_COMMAND_LOG:?}"
freeze=$(dirname "$DLWS_COMMAND_LOG")/freeze
if [ -e "$freeze/frozen" ]; then
  while [ -e "$freeze/frozen" ]; do sleep 0.1; done
  exit 255  # held while frozen: never runs
fi
if [ -s "$freeze/on" ] && [[ $cmd == $(<"$freeze/on") ]]; then
  out=$(mktemp) err=$(mktemp)
  "$SHELL" -c "$cmd" >"$out" 2>"$err"; status=$?
  : >"$freeze/frozen"; pkill -STOP -u "$(id -u)" -x sftp-server
  while [ -e "$freeze/frozen" ]; do sleep 0.1; done
  cat "$out"; cat "$err" >&2; rm -f "$out" "$err"; exit $status
fi
case $cmd in
  internal-sftp) exec /usr/lib/openssh/sftp-server ;;
  "") exec "$SHELL" -l ;;
  *) exec "$SHELL" -c "$cmd" ;;
esac
WRAPPER
chmod 755 commandlog/command-log.sh
[ -f commandlog/commands.log ] || install -m 644 -o hpcuser -g hpcuser /dev/null commandlog/commands.log
SSHD_CHANGED=0 SLURM_CHANGED=0
write_if_changed ssh/sshd_config <<EOF && SSHD_CHANGED=1
# generated by scripts/testhosts/up.sh
# 2222: the service's port, every command logged (ForceCommand); 2223: the same sshd without ForceCommand, as a
# site's login port is, where a key's own command= (a job's OpenPAI SSH entry) is what runs
Port 2222
Port 2223
ListenAddress 127.0.0.1
HostKey $BASE/ssh/host_key
PidFile $BASE/ssh/sshd.pid
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowUsers hpcuser
Subsystem sftp internal-sftp
# the service opens many connections/channels at once (parallel tests, fault-injection reconnects)
MaxStartups 100:30:200
MaxSessions 50
SetEnv SLURM_CONF=$BASE/slurm/slurm.conf PATH=$BASE/bin:/usr/local/bin:/usr/bin:/bin DLWS_COMMAND_LOG=$BASE/commandlog/commands.log
Match LocalPort 2222
    ForceCommand $BASE/commandlog/command-log.sh
EOF
mkdir -p /run/sshd
/usr/sbin/sshd -t -f ssh/sshd_config || die "sshd rejects ssh/sshd_config"

mkdir -p munge/etc munge/run munge/log munge/lib; chmod 700 munge/etc munge/lib munge/log; chmod 755 munge munge/run
[ -s munge/etc/munge.key ] || mungekey -c -k munge/etc/munge.key
chmod 400 munge/etc/munge.key; chown -R munge:munge munge   # munge's uid may differ on a new machine
SOCK=$BASE/munge/run/munge.socket.2

mkdir -p slurm/state slurm/spool slurm/log; chmod 755 slurm slurm/*
HN=$(hostname -s)
# Differences from the reference recipe: two partitions; KillWait=2 + OverTimeLimit=0 so a job past its
# time limit is killed promptly; InactiveLimit=0 (never cancel srun/salloc jobs for an idle client).
write_if_changed slurm/slurm.conf <<EOF && SLURM_CHANGED=1
# generated by scripts/testhosts/up.sh
ClusterName=dlwstest
SlurmctldHost=$HN(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
SlurmUser=root
StateSaveLocation=$BASE/slurm/state
SlurmdSpoolDir=$BASE/slurm/spool/slurmd.%n
SlurmctldPidFile=$BASE/slurm/slurmctld.pid
SlurmdPidFile=$BASE/slurm/slurmd.pid
SlurmctldLogFile=$BASE/slurm/log/slurmctld.log
SlurmdLogFile=$BASE/slurm/log/slurmd.log
# no cgroups and no accounting database on a test VM; jobcomp/filetxt is what makes 'sacct -c' work
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/slurm/log/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
# default batch_sched_delay=3 makes every job wait for a scheduler tick
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
# finished jobs stay visible to scontrol/squeue -t all for 5 min (no slurmdbd)
MinJobAge=300
# sweeps go out as job arrays: 10,000 tasks in one array (Slurm's default allows 1001), and room for them
MaxArraySize=20001
MaxJobCount=60000
KillWait=2
OverTimeLimit=0
InactiveLimit=0
# 16 job slots whatever the hardware (DLWS_TESTHOSTS_CPUS=2 declares the real count, for bench/slurm_side_by_side): test jobs mostly sleep or wait, and tests run dozens at once
# (the 50-job monitoring test, chaos, benchmarks). config_overrides makes slurmd accept the count.
SlurmdParameters=config_overrides
NodeName=$HN NodeAddr=127.0.0.1 CPUs=${DLWS_TESTHOSTS_CPUS:-16} RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$HN Default=YES MaxTime=INFINITE State=UP
PartitionName=batch Nodes=$HN MaxTime=INFINITE State=UP
EOF
tick "configuration written"

# 5. services, in dependency order; each start is a no-op when the service is already usable
if [ $SLURM_CHANGED = 1 ]; then "$CTL" stop slurmd "$BASE" >/dev/null; "$CTL" stop slurmctld "$BASE" >/dev/null; fi
if [ $SSHD_CHANGED = 1 ]; then "$CTL" stop sshd "$BASE" >/dev/null; fi
"$CTL" start munge "$BASE";     tick "munged"
"$CTL" start slurmctld "$BASE"; tick "slurmctld"
"$CTL" start slurmd "$BASE";    tick "slurmd, node $(SLURM_CONF=$BASE/slurm/slurm.conf sinfo -h -N -o %t | sort -u)"
"$CTL" start sshd "$BASE";      tick "sshd (under tini -s)"

# 6. what the tests need to reach all this; written last, via a temp file, so readers never see half of it
DLWS_TEST_SSH_HOST=127.0.0.1 DLWS_TEST_SSH_PORT=2222 DLWS_TEST_SSH_LOGIN_PORT=2223 DLWS_TEST_SSH_USER=hpcuser \
DLWS_TEST_SSH_KEY=$BASE/ssh/client_key DLWS_TEST_SSH_HOST_KEY=$(cut -d' ' -f1,2 ssh/host_key.pub) \
DLWS_TEST_SIF=$BASE/images/busybox.sif DLWS_TEST_SLURM_CONF=$BASE/slurm/slurm.conf \
DLWS_TEST_BIN=$BASE/bin DLWS_TESTHOSTS_DIR=$BASE DLWS_TEST_SSH_COMMAND_LOG=$BASE/commandlog/commands.log DLWS_TESTHOSTS_LAYOUT=$LAYOUT \
DLWS_TEST_DOCKER_IMAGE=$DOCKER_IMAGE /usr/bin/python3 - <<'PY'
import json, os, shlex
keys = ["DLWS_TEST_SSH_HOST", "DLWS_TEST_SSH_PORT", "DLWS_TEST_SSH_LOGIN_PORT", "DLWS_TEST_SSH_USER", "DLWS_TEST_SSH_KEY",
        "DLWS_TEST_SSH_HOST_KEY", "DLWS_TEST_SIF", "DLWS_TEST_SLURM_CONF", "DLWS_TEST_BIN", "DLWS_TESTHOSTS_DIR", "DLWS_TEST_SSH_COMMAND_LOG", "DLWS_TESTHOSTS_LAYOUT",
        "DLWS_TEST_DOCKER_IMAGE"]
vals = {k: os.environ[k] for k in keys}
env = "# generated by scripts/testhosts/up.sh; use: set -a; . hosts.env; set +a\n"
env += "".join(f"{k}={shlex.quote(v)}\n" for k, v in vals.items())
for name, text in (("hosts.env", env), ("hosts.json", json.dumps(vals, indent=2) + "\n")):
    with open(name + ".tmp", "w") as f:
        f.write(text)
    os.chmod(name + ".tmp", 0o644)
    os.replace(name + ".tmp", name)
PY
tick "hosts.env + hosts.json written"
echo "BASE=$BASE up"
