#!/usr/bin/env bash
# Installs every Debian package virtnet needs, on a clean Debian 12 machine.
# Idempotent: it runs `apt-get update` at most once, and only when a package is missing.
# Node.js is checked first and never installed here: Debian 12's own nodejs is 18, older than the project needs.
#   install-deps.sh               check Node.js, then install what is missing
#   install-deps.sh --check-node  only check Node.js (exit 1 with how to get it); installs nothing
set -euo pipefail

# package.json's engines field.
node_min_major=20
node_min_minor=5

node_hint() {
  cat >&2 <<HINT
  Debian 12's own nodejs package is 18. Two ways to get Node.js 20:
  - NodeSource's Debian repository (https://deb.nodesource.com/node_20.x, suite nodistro, component main), as root:
      curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs
  - the upstream tarball node-v20.*-linux-x64.tar.xz from https://nodejs.org/dist/latest-v20.x/,
    unpacked into /usr/local:  tar -xJf node-v20.*-linux-x64.tar.xz -C /usr/local --strip-components=1
HINT
}

# Succeeds when the `node` on PATH is at least node_min_major.node_min_minor; else says why and how to get it.
check_node() {
  local version major minor
  if ! command -v node >/dev/null 2>&1; then
    echo "install-deps: Node.js >= ${node_min_major}.${node_min_minor} is needed, and no node is on PATH" >&2
    node_hint
    return 1
  fi
  version=$(node --version 2>/dev/null || true)
  if ! [[ $version =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+ ]]; then
    echo "install-deps: $(command -v node) --version printed \"${version}\", not vMAJOR.MINOR.PATCH" >&2
    node_hint
    return 1
  fi
  major=${BASH_REMATCH[1]}
  minor=${BASH_REMATCH[2]}
  if ((major < node_min_major || (major == node_min_major && minor < node_min_minor))); then
    echo "install-deps: Node.js >= ${node_min_major}.${node_min_minor} is needed;" \
      "$(command -v node) is ${version}" >&2
    node_hint
    return 1
  fi
}

case "${1:-}" in
  --check-node)
    check_node || exit 1
    exit 0
    ;;
  "") check_node || exit 1 ;;
  *)
    echo "install-deps: unknown argument \"$1\"; the only one is --check-node" >&2
    exit 2
    ;;
esac

packages=(
  iproute2 nftables dnsmasq-base            # kernel layer and DHCP
  gcc libc6-dev                             # the static C CNI shim (cni/shim, scripts/build-shim.mjs)
  containernetworking-plugins               # reference plugins: IPAM delegates and the benchmark's baseline
  # the VM runtime (libvirt-daemon ships libvirtd)
  qemu-system-x86 libvirt-daemon-driver-qemu libvirt-daemon libvirt-clients
  qemu-utils                                # qemu-img: each VM boots from its own overlay over a shared disk image
  busybox-static dhcpcd-base cpio           # the test guest's userland and its initramfs
  skopeo docker-registry                    # containerDisk pulls; the tests' local registry
  xorriso                                   # cloud-init seed ISOs (cidata, config-2)
  ovmf                                      # UEFI firmware for firmware.bootloader.efi
  mmdebstrap extlinux fdisk e2fsprogs xz-utils zstd # the Debian cloud guest for the tests (scripts/guest/debian.sh)
  libxml2-utils                             # xmllint, which virt-xml-validate runs on our domain XML in tests
  # nsenter/unshare, sysctl, ping, curl; python3 sends raw VLAN frames in tests
  util-linux procps iputils-ping curl python3
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

# libvirtd refuses to start without this user and group, and Debian's minimal libvirt packages do not create them.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null ||
  useradd --system -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu

# node_modules, when missing or stale against the lock file.
lock=package-lock.json
if [ -f $lock ] && { [ ! -d node_modules ] || [ $lock -nt node_modules/.package-lock.json ]; }; then
  # --prefer-offline: tarballs already in npm's cache need no registry round trip.
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi
echo "install-deps: ok" >&2
