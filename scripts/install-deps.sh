#!/usr/bin/env bash
# Installs every Debian package virtnet needs, on a clean Debian 12 machine.
# Idempotent: it runs `apt-get update` at most once, and only when a package is missing.
set -euo pipefail

packages=(
  iproute2 nftables dnsmasq-base            # kernel layer and DHCP
  containernetworking-plugins               # reference plugins: IPAM delegates and the benchmark's baseline
  qemu-system-x86 libvirt-daemon-driver-qemu libvirt-daemon libvirt-clients  # the VM runtime (libvirt-daemon ships libvirtd)
  qemu-utils                                # qemu-img: each VM boots from its own overlay over a shared disk image
  busybox-static dhcpcd-base cpio           # the test guest's userland and its initramfs
  skopeo docker-registry                    # containerDisk pulls; the tests' local registry (real-guests.md)
  xorriso                                   # cloud-init seed ISOs (cidata, config-2)
  ovmf                                      # UEFI firmware for firmware.bootloader.efi
  mmdebstrap extlinux fdisk e2fsprogs xz-utils zstd # the Debian cloud guest for the tests (scripts/guest/debian.sh)
  libxml2-utils                             # xmllint, which virt-xml-validate runs on our domain XML in tests
  util-linux procps iputils-ping curl python3 # nsenter/unshare, sysctl, ping, curl; python3 sends raw VLAN frames in tests
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (it calls apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirtd refuses to start without this user and group (measured-here.md);
# Debian's minimal libvirt packages do not create them.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd --system -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu

# node_modules, when missing or stale against the lock file.
if [ -f package-lock.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  # --prefer-offline: tarballs already in npm's cache need no registry round trip.
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi
echo "install-deps: ok" >&2
