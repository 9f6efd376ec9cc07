#!/usr/bin/env bash
# A local container registry for trying containerDisks out, with no registry
# (and no docker) of your own. It runs Debian's docker-registry (the
# distribution registry) on 127.0.0.1, and builds containerDisk images by hand.
#
#   scripts/local-registry.sh start DIR PORT
#       Writes DIR/config.yml (filesystem storage under DIR/storage, http.addr
#       127.0.0.1:PORT), starts `docker-registry serve` in the background
#       (pid in DIR/registry.pid, log in DIR/registry.log) and waits until
#       http://127.0.0.1:PORT/v2/ answers.
#   scripts/local-registry.sh stop DIR
#       Stops the registry started in DIR (the storage stays).
#   scripts/local-registry.sh push DISKFILE REF [--insecure]
#       Builds a containerDisk OCI image (one tar layer holding
#       /disk/<basename of DISKFILE>, owned 107:107 as KubeVirt's images are)
#       and pushes it with skopeo to docker://REF. --insecure: the registry
#       speaks plain HTTP (this one does).
#
# Example: serve KubeVirt's example image names (registry:5000/kubevirt/...)
# from the local registry, with no change to the VM manifests:
#
#   scripts/local-registry.sh start /tmp/reg 5000
#   scripts/local-registry.sh push debian.qcow2 127.0.0.1:5000/kubevirt/debian:12 --insecure
#   cat > /etc/containers/registries.conf.d/50-local.conf <<'EOF'
#   [[registry]]
#   prefix = "registry:5000"
#   location = "127.0.0.1:5000"
#   insecure = true
#   EOF
#
# Pulls of registry:5000/kubevirt/debian:12 then come from 127.0.0.1:5000.
# The rewrite applies to pulls only: push to the real address, as above.
# A [[registry.mirror]] entry (location = "127.0.0.1:5000", insecure = true)
# under a [[registry]] with location = "registry:5000" works as well.
# Such a file can also be given to virtnet alone, with --registries-conf FILE.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

die() {
  echo "local-registry: $*" >&2
  exit 1
}

# The registry's pid, if the pid file names a live docker-registry serving DIR's config.
running_pid() {
  local dir=$1 pid
  [ -f "$dir/registry.pid" ] || return 1
  pid=$(cat "$dir/registry.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # The command line must name this DIR's config: a reused pid is left alone.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "serve $dir/config.yml" || return 1
  echo "$pid"
}

cmd_start() {
  [ $# -eq 2 ] || usage
  local dir port
  dir=$(realpath -m -- "$1")
  port=$2
  [[ $port =~ ^[0-9]{1,5}$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "port must be a number from 1 to 65535, not '$port'"
  # The path goes into YAML unquoted: keep it to characters YAML reads as plain text.
  [[ $dir =~ ^[A-Za-z0-9._/+-]+$ ]] || die "DIR may hold only letters, digits and '._/+-', not '$dir'"
  running_pid "$dir" >/dev/null && die "a registry already runs from $dir (pid $(cat "$dir/registry.pid"))"
  mkdir -p -m 0700 "$dir/storage"
  # config.yml reference: https://distribution.github.io/distribution/about/configuration/
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
  echo $! >"$dir/registry.pid"
  local i
  for ((i = 0; i < 100; i++)); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null; then
      echo "local-registry: serving 127.0.0.1:$port from $dir (pid $(cat "$dir/registry.pid"))" >&2
      return 0
    fi
    running_pid "$dir" >/dev/null || die "docker-registry exited: $(tail -n 5 "$dir/registry.log")"
    sleep 0.1
  done
  cmd_stop "$dir"
  die "docker-registry did not answer on 127.0.0.1:$port within 10 s"
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  local dir pid i
  dir=$(realpath -m -- "$1")
  pid=$(running_pid "$dir") || { rm -f "$dir/registry.pid"; return 0; }
  kill "$pid"
  for ((i = 0; i < 100; i++)); do
    running_pid "$dir" >/dev/null || { rm -f "$dir/registry.pid"; return 0; }
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/registry.pid"
}

# Store FILE as a blob of the layout LAYOUT; prints its digest (sha256:HEX).
put_blob() {
  local layout=$1 file=$2 hex
  hex=$(sha256sum "$file" | cut -d' ' -f1)
  mv "$file" "$layout/blobs/sha256/$hex"
  echo "sha256:$hex"
}

blob_size() {
  stat -c %s "$1/blobs/sha256/${2#sha256:}"
}

cmd_push() {
  local disk="" ref="" tls=true
  for arg in "$@"; do
    case $arg in
      --insecure) tls=false ;;
      -*) die "unknown option $arg" ;;
      *) if [ -z "$disk" ]; then disk=$arg; elif [ -z "$ref" ]; then ref=$arg; else usage; fi ;;
    esac
  done
  [ -n "$disk" ] && [ -n "$ref" ] || usage
  [ -f "$disk" ] || die "$disk is not a regular file"
  local name
  name=$(basename -- "$disk")
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "the disk's file name may hold only letters, digits and '._-', not '$name'"
  # Global, not local: the EXIT trap runs after this function has returned.
  work=$(mktemp -d "${TMPDIR:-/tmp}/local-registry-push.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  local layout=$work/layout
  mkdir -p "$layout/blobs/sha256" "$work/root/disk"
  # A hard link when the disk is on the same filesystem: no copy of a large file.
  ln -- "$disk" "$work/root/disk/$name" 2>/dev/null || cp -- "$disk" "$work/root/disk/$name"
  # Reproducible: fixed owner (KubeVirt's 107:107), mode and mtime, so one disk gives one digest.
  tar -C "$work/root" --create --file "$work/layer.tar" --sort=name --numeric-owner --owner=107 --group=107 \
    --mtime=@0 --mode='u=rwX,go=rX' disk
  local layer layer_size config config_size manifest manifest_size
  layer=$(put_blob "$layout" "$work/layer.tar")
  layer_size=$(blob_size "$layout" "$layer")
  # OCI image-spec config.md: architecture, os and rootfs.diff_ids are required.
  printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' "$layer" >"$work/config.json"
  config=$(put_blob "$layout" "$work/config.json")
  config_size=$(blob_size "$layout" "$config")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
  manifest=$(put_blob "$layout" "$work/manifest.json")
  manifest_size=$(blob_size "$layout" "$manifest")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"disk"}}]}' \
    "$manifest" "$manifest_size" >"$layout/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  skopeo copy --quiet --dest-tls-verify="$tls" "oci:$layout:disk" "docker://$ref" </dev/null
  echo "local-registry: pushed $disk as $ref" >&2
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  push) cmd_push "$@" ;;
  *) usage ;;
esac
