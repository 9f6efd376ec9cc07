#!/usr/bin/env bash
# Builds virtnet's real distro guest: a Debian 12 cloud image made only from
# Debian's packages with mmdebstrap, booted by SeaBIOS + extlinux, configured
# by cloud-init. The facts behind each step were measured on these machines
# (shared/reference/real-guests.md):
#
# - LANG=C.UTF-8 in /etc/default/locale. Without it cloud-init's locale module
#   runs `update-locale en_US.UTF-8`, which fails in a minbase system, and
#   `cloud-init status` reports an error on every boot.
# - e2scrub_reap is disabled: it is a 9.5 s unit under TCG and the guest is
#   thrown away after each test.
# - dpkg path-exclude for docs, man pages and locales: a smaller image to push
#   to a registry and to pull (copyright files stay).
# - Kernel command line `console=ttyS0 net.ifnames=0`, as Fedora's and CentOS's
#   cloud images have: the serial console carries the log the tests read
#   (systemd starts serial-getty@ttyS0 from it), and NICs are eth0, eth1, ...
# - Debian's cloud kernel has no AHCI/SATA driver: this disk, and a cloud-init
#   seed, must be attached as virtio (or IDE/virtio-scsi). A SATA cdrom on q35
#   is invisible and cloud-init never runs.
# - 99-virtnet-dhcp-fallback.network: DHCP (v4 and v6, RAs accepted) on every
#   eth* NIC that cloud-init's networkData does not mention. Fedora/CentOS do
#   this with NetworkManager, and KubeVirt's examples rely on it (they give
#   networkData for eth1 only). systemd-networkd uses the first .network file
#   in lexical order that matches a link, and cloud-init writes
#   10-cloud-init-*.network, so a NIC named in networkData never reaches it.
# - systemd-resolved: networkd hands the DNS servers and search domains of a
#   lease to it, so they end up in /etc/resolv.conf as on the other distros.
# - cloud-init's ssh module leaves the init stage: the image has no sshd and
#   no ssh-keygen, and the module would log a warning per host key type.
# - FSTYPE=ext4 for initramfs-tools, so the initramfs checks the root file
#   system with fsck.ext4 before mounting it.
# - `losetup -P` gives no partition node here, so the root partition is reached
#   through a loop device at its offset.
#
# Output: $VIRTNET_DEBIAN_GUEST_DIR (default /var/cache/virtnet/guest/debian)
# holds debian-12.qcow2 (zlib-compressed, no backing file), recipe.sha256 and
# recipe.txt. The last line on stdout is the qcow2's absolute path; progress
# goes to stderr, one line per step.
#
# Cached: the recipe hash covers this script (which holds the package list and
# every customization) and the apt sources it builds from. It does NOT cover
# the package versions the mirror serves at build time: knowing them before
# building needs the mirror's package lists (a download, and an apt-get update
# of the host). A point release therefore reuses the old image until this
# script changes or the cache is removed. When recipe.sha256 matches, nothing
# is done. Otherwise the image is built in a temporary directory beside the
# output and renamed into place, recipe.sha256 last, under a lock so two
# builders do not race.
set -euo pipefail
shopt -s inherit_errexit

log() { printf 'debian-guest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
out=${VIRTNET_DEBIAN_GUEST_DIR:-/var/cache/virtnet/guest/debian}
out=${out%/}
image_name=debian-12.qcow2
suite=bookworm
mirror=${VIRTNET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${VIRTNET_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
disk_bytes=$((2 * 1024 * 1024 * 1024))
# The partition starts at sector 2048 (1 MiB), sfdisk's default alignment.
part_offset=1048576

packages=(
  linux-image-cloud-amd64 systemd-sysv udev dbus   # kernel, init, devices, bus
  systemd-resolved                                  # DNS from DHCP leases into resolv.conf
  cloud-init cloud-guest-utils sudo                 # cloud-init (growpart is in cloud-guest-utils)
  iproute2 iputils-ping busybox e2fsprogs           # what the tests run inside the guest
)

# The out dir is given by the environment, so it is checked before use: an
# absolute path of plain characters, never the root.
case "$out" in
  /*) ;;
  *) die "VIRTNET_DEBIAN_GUEST_DIR must be an absolute path, got '$out'" ;;
esac
[[ "$out" =~ ^(/[A-Za-z0-9._+-]+)+$ ]] || die "VIRTNET_DEBIAN_GUEST_DIR may hold only letters, digits and ._+-/ (got '$out')"
for url in "$mirror" "$security_mirror"; do
  [[ "$url" =~ ^https?://[A-Za-z0-9._~:/?%+=-]+$ ]] || die "a Debian mirror must be an http(s) URL without spaces, got '$url'"
done

for tool in sha256sum flock mmdebstrap sfdisk losetup mkfs.ext4 blkid extlinux qemu-img tar mount umount mountpoint dd truncate; do
  command -v "$tool" >/dev/null || die "missing tool: $tool (scripts/install-deps.sh installs it)"
done
mbr=/usr/lib/EXTLINUX/mbr.bin
[ -f "$mbr" ] || die "missing $mbr (package extlinux)"

# The apt sources of the guest, one line each, as mmdebstrap takes them.
sources=(
  "deb $mirror $suite main"
  "deb $mirror $suite-updates main"
  "deb $security_mirror $suite-security main"
)

# Hashed once, at start: what this run builds is what its recipe names.
compute_recipe() {
  local script_sum
  script_sum=$(sha256sum <"$self" | cut -d' ' -f1)
  inputs=$(
    printf 'script %s\n' "$script_sum"
    printf 'source %s\n' "${sources[@]}"
  )
  recipe=$(printf '%s\n' "$inputs" | sha256sum | cut -d' ' -f1)
}

cache_hit() {
  [ -f "$out/$image_name" ] && [ -f "$out/recipe.sha256" ] && [ "$(cat "$out/recipe.sha256")" = "$recipe" ]
}

mkdir -p "$out"
compute_recipe
if cache_hit; then
  log "cache hit ($recipe)"
  printf '%s\n' "$out/$image_name"
  exit 0
fi

# One builder at a time; a second one waits and then finds the cache warm.
exec 9>"$out/.build.lock"
if ! flock -n 9; then
  log "waiting for another build of $out"
  flock -w 1800 9 || die "another build has held $out/.build.lock for 30 minutes"
fi
if cache_hit; then
  log "cache hit after waiting for another build ($recipe)"
  printf '%s\n' "$out/$image_name"
  exit 0
fi

# mmdebstrap's root mode, mount and losetup all need root.
[ "$(id -u)" -eq 0 ] || die "run as root to build (the cache is not warm for $recipe)"

started=$(date +%s)
work=$(mktemp -d "$(dirname "$out")/.debian-build.XXXXXX")
# apt, inside mmdebstrap, downloads as the _apt user into a chroot below here.
chmod 755 "$work"
loopdev=''
mnt="$work/mnt"

# Runs on every exit, failed or not: nothing stays mounted or attached.
cleanup() {
  local rc=$?
  if mountpoint -q "$mnt" 2>/dev/null; then
    umount "$mnt" || umount -l "$mnt" || log "warning: could not unmount $mnt"
  fi
  if [ -n "$loopdev" ]; then
    losetup -d "$loopdev" || log "warning: could not detach $loopdev"
  fi
  # --one-file-system: should anything still be mounted below $work (say a
  # bind mount mmdebstrap failed to undo), rm stops there instead of
  # deleting through it.
  rm -rf --one-file-system "$work" || log "warning: could not remove $work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log "building in $work"

step_started=0
step() {
  step_started=$(date +%s)
  log "$*"
}
step_done() {
  log "  done in $(($(date +%s) - step_started)) s"
}

# --- root file system ----------------------------------------------------------
rootfs_tar="$work/rootfs.tar"

# The customize hooks run in the finished chroot ($1), before it is packed.
# The fallback .network file: see the header. RequiredForOnline=no because a
# NIC nobody configured may have no DHCP server behind it (an L2-only
# network); systemd-networkd-wait-online would then hold network-online.target,
# and cloud-init's final stage with it, for its full 2 minute timeout.
write_guest_config=$(cat <<'HOOK'
set -eu
root=$1
printf 'LANG=C.UTF-8\n' >"$root/etc/default/locale"
# mmdebstrap copied the build host's file (and its mode) in; cloud-init
# replaces the name from meta-data's local-hostname.
printf 'debian\n' >"$root/etc/hostname"
chmod 644 "$root/etc/hostname"
cat >"$root/etc/systemd/network/99-virtnet-dhcp-fallback.network" <<'EOF'
# virtnet: DHCP on every NIC that cloud-init's networkData does not mention, as
# Fedora's and CentOS's cloud images do. cloud-init's own files
# (10-cloud-init-*.network) sort first, and networkd uses the first match.
[Match]
Name=eth*

[Link]
RequiredForOnline=no

[Network]
DHCP=yes
IPv6AcceptRA=yes

# The search domains DHCP hands out go to resolved, as NetworkManager uses
# them on Fedora's images; networkd's own default is UseDomains=no
# (systemd.network(5), [DHCPv4] and [DHCPv6]).
[DHCPv4]
UseDomains=yes

[DHCPv6]
UseDomains=yes

[IPv6AcceptRA]
UseDomains=yes
EOF
# Only the two datasources virtnet builds seeds for: ds-identify then never
# probes a metadata server that is not there.
cat >"$root/etc/cloud/cloud.cfg.d/90-virtnet.cfg" <<'EOF'
datasource_list: [NoCloud, ConfigDrive]
EOF
# The image has no sshd (nor ssh-keygen), so cloud-init's ssh module only logs
# a warning per host key type on every first boot. It cannot be told to make
# no keys (its schema wants ssh_genkeytypes non-empty), so it leaves the list
# of init modules.
grep -qx ' - ssh' "$root/etc/cloud/cloud.cfg" || { echo "no ' - ssh' module line in /etc/cloud/cloud.cfg" >&2; exit 1; }
sed -i '/^ - ssh$/d' "$root/etc/cloud/cloud.cfg"
chroot "$root" systemctl enable systemd-networkd.service systemd-resolved.service
chroot "$root" systemctl disable e2scrub_reap.service
# A fresh machine id on each VM's first boot: networkd's DHCP client id (a
# DUID) derives from it, so VMs from one image must not share it.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
HOOK
)

# The essential hook runs before the kernel package builds the initramfs.
# initramfs-tools finds the root file system's type by probing the root
# device, which does not exist at build time; without FSTYPE it puts
# no fsck.ext4 in the initramfs, and the guest prints "fsck not present, so
# skipping root file system" (initramfs.conf(5)).
initramfs_fstype='mkdir -p "$1/etc/initramfs-tools/conf.d" && printf "FSTYPE=ext4\\n" >"$1/etc/initramfs-tools/conf.d/virtnet-fstype"'

mm_opts=(
  --mode=root --variant=minbase --format=tar
  --include="$(IFS=,; printf '%s' "${packages[*]}")"
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --essential-hook="$initramfs_fstype"
  --customize-hook="$write_guest_config"
)
# On a TTY mmdebstrap's progress bars show; otherwise its output goes to a log
# that is shown if it fails.
mm_log="$work/mmdebstrap.log"
if [ -t 2 ]; then
  mm_output=()
else
  mm_output=(--logfile="$mm_log")
fi

step "mmdebstrap $suite (about 1-2 min, ~110 MB download from $mirror)"
# TMPDIR: mmdebstrap's temporary chroot is made inside $work, so the cleanup
# covers it too.
if ! TMPDIR="$work" mmdebstrap "${mm_opts[@]}" "${mm_output[@]}" "$suite" "$rootfs_tar" "${sources[@]}" </dev/null >&2; then
  if [ -f "$mm_log" ]; then
    log "mmdebstrap failed; the end of its log:"
    tail -n 40 "$mm_log" >&2
  fi
  die "mmdebstrap failed"
fi
step_done

# --- disk ----------------------------------------------------------------------
raw="$work/disk.raw"
step "partitioning a $((disk_bytes >> 30)) GiB disk and making ext4"
truncate -s "$disk_bytes" "$raw"
# One bootable Linux partition from 1 MiB to the end (sfdisk(8) script format).
printf 'label: dos\nstart=%d, type=83, bootable\n' $((part_offset / 512)) | sfdisk --quiet "$raw" >&2
loopdev=$(losetup --find --show --offset "$part_offset" --sizelimit $((disk_bytes - part_offset)) "$raw")
# Inode tables are initialized now, on the host, not by ext4lazyinit in each
# guest under TCG.
mkfs.ext4 -q -L debian-root -E lazy_itable_init=0,lazy_journal_init=0 "$loopdev" >&2
root_uuid=$(blkid -s UUID -o value "$loopdev")
[ -n "$root_uuid" ] || die "blkid found no UUID on $loopdev"
step_done

step "unpacking the root file system into the disk"
mkdir -p "$mnt"
mount "$loopdev" "$mnt"
tar -xf "$rootfs_tar" -C "$mnt" --numeric-owner --xattrs --xattrs-include='*'
rm -f "$rootfs_tar"
# The kernel and initramfs the bootloader names.
kernels=("$mnt"/boot/vmlinuz-*)
[ "${#kernels[@]}" -eq 1 ] && [ -f "${kernels[0]}" ] || die "expected one /boot/vmlinuz-* in the root file system, found: ${kernels[*]}"
kver=${kernels[0]##*/vmlinuz-}
[ -f "$mnt/boot/initrd.img-$kver" ] || die "the root file system has no /boot/initrd.img-$kver"
printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$root_uuid" >"$mnt/etc/fstab"
step_done

step "installing extlinux (kernel $kver)"
mkdir -p "$mnt/boot/extlinux"
cat >"$mnt/boot/extlinux/extlinux.conf" <<EOF
DEFAULT debian
TIMEOUT 0
LABEL debian
  LINUX /boot/vmlinuz-$kver
  INITRD /boot/initrd.img-$kver
  APPEND root=UUID=$root_uuid ro console=ttyS0 net.ifnames=0
EOF
# extlinux warns that it cannot read the geometry of a loop device; the
# warning is harmless (shared/reference/real-guests.md).
extlinux --install "$mnt/boot/extlinux" 2>&1 | sed 's/^/  extlinux: /' >&2
umount "$mnt"
losetup -d "$loopdev"
loopdev=''
# The MBR boot code is the first 440 bytes; the partition table after it stays.
dd if="$mbr" of="$raw" bs=440 count=1 conv=notrunc status=none
step_done

step "converting to a compressed qcow2 (about 20 s)"
qemu-img convert -c -O qcow2 "$raw" "$work/$image_name"
rm -f "$raw"
step_done

printf '%s\n' "$recipe" >"$work/recipe.sha256"
# What was built, for people: the hash covers only the inputs lines.
printf '%s\nbuilt-kernel %s\n' "$inputs" "$kver" >"$work/recipe.txt"
for f in "$image_name" recipe.txt recipe.sha256; do
  mv -f "$work/$f" "$out/$f"
done
log "built $out/$image_name in $(($(date +%s) - started)) s ($(stat -c %s "$out/$image_name") bytes, kernel $kver)"
printf '%s\n' "$out/$image_name"
