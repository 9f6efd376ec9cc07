#!/usr/bin/env bash
# Builds virtnet's test guest: Debian's cloud kernel (unpacked, never
# installed) and a busybox + dhcpcd initramfs whose /init is scripts/guest/init.
#
# Output: $VIRTNET_GUEST_DIR (default /var/cache/virtnet/guest) holds vmlinuz,
# initrd.img, recipe.sha256 and recipe.txt (the inputs the hash covers). The
# last line on stdout is that directory; logs go to stderr. Downloaded .debs
# are kept in $VIRTNET_DEB_CACHE (default: debs/ beside the output directory).
#
# Cached: the recipe hash covers this script, scripts/guest/init and the exact
# Debian versions of every package the guest is made of. When recipe.sha256
# matches, nothing is done. Otherwise the guest is built in a temporary
# directory beside the output and renamed into place, recipe.sha256 last, so a
# reader never pairs a new recipe with old files.
set -euo pipefail
shopt -s inherit_errexit

log() { printf 'build-guest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
init_src="$here/guest/init"
out=${VIRTNET_GUEST_DIR:-/var/cache/virtnet/guest}
out=${out%/}

# Kernel modules the guest loads, in this order; their dependencies are added
# before them. af_packet is added when the kernel builds it as a module.
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net 8021q)
kernel_meta=linux-image-cloud-amd64
userland_pkgs=(busybox-static dhcpcd-base libc6)

[ -f "$init_src" ] || die "missing $init_src"
for tool in sha256sum dpkg-query dpkg-deb apt-get apt-cache gzip flock ldd; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done
# Hashed once, at start: what this run builds is what its recipe names.
script_sum=$(sha256sum <"$self" | cut -d' ' -f1)
init_sum=$(sha256sum <"$init_src" | cut -d' ' -f1)

installed_version() {
  dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | awk '$1 == "install" && $3 == "installed" { print $4 }'
}

apt_updated=0
apt_update_once() {
  [ "$apt_updated" -eq 1 ] && return 0
  apt_updated=1
  log "running apt-get update"
  apt-get update -qq -o Acquire::Retries=1 -o Acquire::http::Timeout=30 >&2 || die "apt-get update failed"
}

candidate_version() {
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2; exit }'
}

# The real image package behind the meta package, e.g. linux-image-6.1.0-56-cloud-amd64.
kernel_package() {
  apt-cache depends "$kernel_meta" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }'
}

# apt-cache rebuilds its cache on each call here (about 1 s). The kernel's name
# and version only change when the package lists do, so they are reused from
# the last build while the lists' fingerprint is unchanged.
lists_fingerprint() {
  local f
  for f in /var/lib/apt/lists/*_Packages*; do
    if [ -e "$f" ]; then stat -c '%n %s %Y' "$f"; fi
  done | sha256sum | cut -d' ' -f1
}

resolve_kernel() {
  fingerprint=$(lists_fingerprint)
  kpkg='' kversion=''
  if [ -f "$out/recipe.txt" ] && grep -qx "apt-lists $fingerprint" "$out/recipe.txt"; then
    read -r _ kpkg kversion < <(grep '^kernel ' "$out/recipe.txt") || true
  fi
  if [ -z "$kpkg" ] || [ -z "$kversion" ]; then
    kpkg=$(kernel_package)
    if [ -z "$kpkg" ]; then
      apt_update_once
      fingerprint=$(lists_fingerprint)
      kpkg=$(kernel_package)
    fi
    [ -n "$kpkg" ] || die "apt-cache cannot resolve $kernel_meta"
    kversion=$(candidate_version "$kpkg")
    { [ -n "$kversion" ] && [ "$kversion" != "(none)" ]; } || die "no candidate version for $kpkg"
  fi
}

pkg_version() {
  local v
  v=$(installed_version "$1")
  if [ -z "$v" ]; then
    v=$(candidate_version "$1")
    if [ -z "$v" ] || [ "$v" = "(none)" ]; then
      apt_update_once
      v=$(candidate_version "$1")
    fi
  fi
  { [ -n "$v" ] && [ "$v" != "(none)" ]; } || die "no version for package $1"
  printf '%s' "$v"
}

recipe_inputs() {
  local p v
  printf 'script %s\n' "$script_sum"
  printf 'init %s\n' "$init_sum"
  printf 'kernel %s %s\n' "$kpkg" "$kversion"
  for p in "${userland_pkgs[@]}"; do
    v=$(pkg_version "$p")
    printf 'package %s %s\n' "$p" "$v"
  done
}

compute_recipe() {
  resolve_kernel
  inputs=$(recipe_inputs)
  recipe=$(printf '%s\n' "$inputs" | sha256sum | cut -d' ' -f1)
}

cache_hit() {
  [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] && [ -f "$out/recipe.sha256" ] &&
    [ "$(cat "$out/recipe.sha256")" = "$recipe" ]
}

mkdir -p "$out"
compute_recipe
if cache_hit; then
  log "cache hit ($recipe)"
  printf '%s\n' "$out"
  exit 0
fi

# One builder at a time; a second one waits and then finds the cache warm.
exec 9>"$out/.build.lock"
if ! flock -n 9; then
  log "waiting for another build of $out"
  flock -w 900 9 || die "another build has held $out/.build.lock for 15 minutes"
fi
compute_recipe
if cache_hit; then
  log "cache hit after waiting for another build ($recipe)"
  printf '%s\n' "$out"
  exit 0
fi

# Device nodes in the initramfs need root, as does a possible apt-get update.
[ "$(id -u)" -eq 0 ] || die "run as root to build (the cache is warm only for $recipe)"

started=$(date +%s)
work=$(mktemp -d "$(dirname "$out")/.guest-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
log "building in $work"

# .debs are kept (one version per package) so that a rebuild, say after an
# edit of the init, needs no network.
deb_cache=${VIRTNET_DEB_CACHE:-$(dirname "$out")/debs}
apt_opts=(-qq -o APT::Sandbox::User=root -o Acquire::Retries=1 -o Acquire::http::Timeout=30)

# The .deb of NAME=VERSION: from the cache or apt's archives, else downloaded.
fetch_deb() {
  local name=$1 version=$2 file dl old
  file="${name}_${version//:/%3a}_$(dpkg --print-architecture).deb"
  if [ ! -f "$deb_cache/$file" ] && [ -f "/var/cache/apt/archives/$file" ]; then
    mkdir -p "$deb_cache"
    cp "/var/cache/apt/archives/$file" "$deb_cache/.$file.tmp" && mv -f "$deb_cache/.$file.tmp" "$deb_cache/$file"
  fi
  if [ ! -f "$deb_cache/$file" ]; then
    log "downloading $name $version"
    dl="$work/download"
    mkdir -p "$dl" "$deb_cache"
    if ! (cd "$dl" && apt-get download "${apt_opts[@]}" "$name=$version" >&2); then
      apt_update_once
      (cd "$dl" && apt-get download "${apt_opts[@]}" "$name=$version" >&2) || die "apt-get download $name=$version failed"
    fi
    [ -f "$dl/$file" ] || die "apt-get download gave no $file"
    mv -f "$dl/$file" "$deb_cache/.$file.tmp" && mv -f "$deb_cache/.$file.tmp" "$deb_cache/$file"
    for old in "$deb_cache/${name}"_*.deb; do
      [ "$old" = "$deb_cache/$file" ] || rm -f "$old"
    done
  fi
  printf '%s' "$deb_cache/$file"
}

# Unpack NAME=VERSION into $work/pkg/NAME.
unpack_deb() {
  local name=$1 version=$2 deb
  deb=$(fetch_deb "$name" "$version")
  mkdir -p "$work/pkg/$name"
  dpkg-deb -x "$deb" "$work/pkg/$name"
}

# Root of a userland package's files: / when installed, else an unpacked .deb.
pkg_root() {
  if [ -n "$(installed_version "$1")" ]; then
    printf '/'
  else
    unpack_deb "$1" "$(pkg_version "$1")" >&2
    printf '%s/' "$work/pkg/$1"
  fi
}

root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,etc/virtnet,www,var/lib/dhcpcd,root}

# --- kernel -------------------------------------------------------------------
log "kernel: $kpkg $kversion"
unpack_deb "$kpkg" "$kversion"
kroot="$work/pkg/$kpkg"
vmlinuz=$(find "$kroot/boot" -maxdepth 1 -name 'vmlinuz-*' -print -quit)
[ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in $kpkg"
kver=${vmlinuz##*/vmlinuz-}
kconfig="$kroot/boot/config-$kver"
moddir="lib/modules/$kver"
[ -d "$kroot/$moddir" ] || die "no $moddir in $kpkg"
cp "$vmlinuz" "$work/vmlinuz"

if [ -f "$kconfig" ] && grep -qx 'CONFIG_PACKET=m' "$kconfig"; then
  modules+=(af_packet)
fi

declare -A seen=()
load_order=()
add_module() {
  local name=$1 file deps dep
  local -a dep_list=()
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  file=$(find "$kroot/$moddir" \( -name "$name.ko" -o -name "${name//_/-}.ko" \) -print -quit)
  if [ -z "$file" ]; then
    if grep -Eq "/(${name}|${name//_/-})\.ko$" "$kroot/$moddir/modules.builtin" 2>/dev/null; then
      log "module $name is built in"
      return 0
    fi
    die "module $name not found in $kpkg (compressed modules are not supported)"
  fi
  deps=$(tr '\0' '\n' <"$file" | sed -n 's/^depends=//p' | head -n 1)
  if [ -n "$deps" ]; then
    IFS=, read -r -a dep_list <<<"$deps"
    for dep in "${dep_list[@]}"; do
      add_module "$dep"
    done
  fi
  load_order+=("${file#"$kroot"/}")
}
for m in "${modules[@]}"; do
  add_module "$m"
done
: >"$root/etc/virtnet/modules"
for rel in "${load_order[@]}"; do
  mkdir -p "$root/$(dirname "$rel")"
  cp "$kroot/$rel" "$root/$rel"
  printf '/%s\n' "$rel" >>"$root/etc/virtnet/modules"
done
log "modules: $(tr '\n' ' ' <"$root/etc/virtnet/modules")"

# --- userland -----------------------------------------------------------------
bb_root=$(pkg_root busybox-static)
busybox="${bb_root}bin/busybox"
[ -x "$busybox" ] || die "no busybox at $busybox"
cp "$busybox" "$root/bin/busybox"
while read -r applet; do
  [ -n "$applet" ] || continue
  [ -e "$root/$applet" ] || [ -L "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)

dh_root=$(pkg_root dhcpcd-base)
dhcpcd="${dh_root}usr/sbin/dhcpcd"
[ -x "$dhcpcd" ] || die "no dhcpcd at $dhcpcd"
rm -f "$root/usr/sbin/dhcpcd"
cp "$dhcpcd" "$root/usr/sbin/dhcpcd"
# Shared libraries and the dynamic loader, at the paths ldd names.
while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done < <(ldd "$dhcpcd" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)

cp "$init_src" "$root/init"
chmod 755 "$root/init"
[ "$(sha256sum <"$root/init" | cut -d' ' -f1)" = "$init_sum" ] || die "$init_src changed during the build; run again"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'guest\n' >"$root/etc/hostname"
: >"$root/etc/resolv.conf"
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

# --- initramfs ----------------------------------------------------------------
if cpio --version 2>/dev/null | grep -q 'GNU cpio'; then
  cpio_cmd=(cpio --quiet -o -H newc -R 0:0 --reproducible)
else
  log "GNU cpio not found; using busybox cpio"
  cpio_cmd=("$busybox" cpio -o -H newc -R 0:0)
fi
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | "${cpio_cmd[@]}") | gzip -9 -n >"$work/initrd.img"

printf '%s\n' "$recipe" >"$work/recipe.sha256"
printf '%s\napt-lists %s\n' "$inputs" "$fingerprint" >"$work/recipe.txt"
for f in vmlinuz initrd.img recipe.txt recipe.sha256; do
  mv -f "$work/$f" "$out/$f"
done
log "built $out in $(($(date +%s) - started)) s (kernel $kver, initrd $(stat -c %s "$out/initrd.img") bytes)"
printf '%s\n' "$out"
