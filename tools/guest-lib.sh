# Shared by tools/make-images and tools/ksm-compare: the packages, Debian's cloud kernel, a busybox initramfs, and
# booting one guest under QEMU with a monitor on a TCP port. Sourced, not run.

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "$tools_dir/.." && pwd)"
cache_dir="$repo_dir/.build/guest"

# The guests and what each runs once booted (see the init script below).
all_guests="idle-a idle-b files-a files-b random"

need_packages() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || missing+=(busybox-static)
  command -v cpio >/dev/null || missing+=(cpio)
  command -v dpkg-deb >/dev/null || missing+=(dpkg)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
      echo "$0: these Debian packages are needed: ${missing[*]} (apt-get install them as root)." >&2
      exit 1
    fi
    echo "$0: installing ${missing[*]}..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
  fi
}

# Debian's cloud kernel (linux-image-cloud-amd64's current version), unpacked from its package, not installed.
kernel_image() {
  local dir="$cache_dir/kernel"
  if ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
    mkdir -p "$dir"
    local pkg
    pkg="$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
    if [ -z "$pkg" ]; then
      apt-get update -qq >/dev/null
      pkg="$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
    fi
    echo "$0: fetching $pkg..." >&2
    (cd "$dir" && apt-get download -qq "$pkg" >/dev/null && dpkg-deb -x ./*.deb . && rm -f ./*.deb)
  fi
  ls "$dir"/boot/vmlinuz-* | head -n 1
}

# The virtio modules a balloon needs, in load order (each after those it depends on), and virtio-mem.
balloon_modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_balloon virtio_mem"

# A busybox initramfs whose init runs the workload named by memvisor.workload= on the kernel command line, and loads
# the kernel's virtio balloon driver when the command line has memvisor.balloon=on.
initramfs() {
  local out="$cache_dir/initramfs.cpio.gz"
  if [ ! -f "$out" ] || [ "$tools_dir/guest-lib.sh" -nt "$out" ]; then
    local root="$cache_dir/initramfs" kernel
    kernel="$(kernel_image)"
    rm -rf "$root"
    mkdir -p "$root"/{bin,dev,proc,sys,tmp,srv,lib/modules}
    cp /bin/busybox "$root/bin/busybox"
    local m
    for m in $balloon_modules; do
      cp "$(find "${kernel%/boot/*}/lib/modules" -name "$m.ko" | head -n 1)" "$root/lib/modules/$m.ko"
    done
    cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
workload=idle
balloon=off
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    memvisor.workload=*) workload="${arg#memvisor.workload=}" ;;
    memvisor.balloon=*) balloon="${arg#memvisor.balloon=}" ;;
  esac
done
if [ "$balloon" = on ]; then
  for m in BALLOON_MODULES; do insmod /lib/modules/$m.ko; done
fi
# Files in the initramfs's root live in the page cache, so what a workload writes stays in guest memory.
case "$workload" in
  idle) ;;
  files)
    # A small web server's content: program copies (pages identical within and across guests), text and logs
    # (compressible, mostly unique), and a served page read by a client.
    for i in 1 2 3 4 5 6 7 8; do cp /bin/busybox /srv/tool$i; done
    seq 1 1500000 >/srv/numbers.txt
    i=0; while [ $i -lt 3000 ]; do echo "$i GET /index.html 200 $(date +%s) client-$((i % 97))"; i=$((i + 1)); done >/srv/access.log
    dmesg >/srv/dmesg.txt
    echo '<html><body>memvisor</body></html>' >/srv/index.html
    httpd -h /srv -p 80
    wget -q -O /tmp/fetched http://127.0.0.1/numbers.txt 2>/dev/null
    ;;
  random)
    # Data no sharer or compressor can reduce.
    dd if=/dev/urandom of=/tmp/random bs=1M count=48 2>/dev/null
    ;;
  churn)
    # Memory in use that rises and falls: 48 MiB held for 20 s, then freed for 20 s, over and over.
    (while true; do
      dd if=/dev/zero of=/tmp/churn bs=1M count=48 2>/dev/null; sleep 20
      rm -f /tmp/churn; sleep 20
    done) &
    ;;
esac
sync
echo MEMVISOR-READY
while true; do sleep 3600; done
INIT
    sed -i "s/BALLOON_MODULES/$balloon_modules/" "$root/init"
    chmod +x "$root/init"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$out"
  fi
  echo "$out"
}

# boot_guest NAME WORKLOAD MEMORY_MIB MERGE(on|off) PORT LOG: starts QEMU in the background; prints its pid.
boot_guest() {
  local name="$1" workload="$2" memory="$3" merge="$4" port="$5" log="$6"
  local accel="tcg"
  [ "${MEMVISOR_ACCEL:-tcg}" = "kvm" ] && accel="kvm"
  qemu-system-x86_64 -name "$name" -machine "pc,accel=$accel,mem-merge=$merge" -cpu max -smp 1 -m "$memory" \
    -kernel "$(kernel_image)" -initrd "$(initramfs)" \
    -append "console=ttyS0 quiet panic=-1 memvisor.workload=$workload" \
    -display none -serial "file:$log" -monitor "tcp:127.0.0.1:$port,server,nowait" -no-reboot -nodefaults \
    >/dev/null 2>"$log.qemu" &
  # QEMU outlives the subshell that starts it: callers list the pids in $guest_pids to stop them on any exit.
  [ -n "${guest_pids:-}" ] && echo $! >>"$guest_pids"
  echo $!
}

# stop_guests: kills every QEMU listed in $guest_pids (for an EXIT trap).
stop_guests() {
  [ -n "${guest_pids:-}" ] && [ -f "$guest_pids" ] && xargs -r kill <"$guest_pids" 2>/dev/null
  return 0
}

# wait_ready LOG SECONDS: waits until the guest's init prints MEMVISOR-READY.
wait_ready() {
  local log="$1" limit="$2" waited=0
  until grep -q MEMVISOR-READY "$log" 2>/dev/null; do
    sleep 1
    waited=$((waited + 1))
    if [ "$waited" -ge "$limit" ]; then
      echo "$0: the guest logging to $log did not get ready in $limit s; its console:" >&2
      tail -n 20 "$log" >&2 || true
      return 1
    fi
  done
}

# monitor PORT COMMAND: sends one command to a guest's QEMU monitor and waits for its prompt to come back.
monitor() {
  local port="$1" command="$2"
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf '%s\n' "$command" >&3
  # The monitor prints a banner and a prompt, then the command's output and a prompt again when it is done.
  local prompts=0 line buffer=""
  while IFS= read -r -d '' -n 1 line <&3; do
    buffer+="$line"
    if [[ "$buffer" == *"(qemu) " ]]; then
      prompts=$((prompts + 1))
      buffer=""
      [ "$prompts" -ge 2 ] && break
    fi
  done
  exec 3<&-
}
