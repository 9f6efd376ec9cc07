#!/usr/bin/env bash
# Builds (or reuses from its cache) one of virtnet's test guests:
#   busybox (default)  the kernel + initramfs guest (scripts/build-guest.sh);
#                      the last line on stdout is its directory.
#   debian             the Debian 12 cloud image (scripts/guest/debian.sh);
#                      the last line on stdout is its qcow2's absolute path.
# Usage: npm run --silent guest -- [busybox|debian]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { printf 'usage: %s [busybox|debian]\n' "$(basename "$0")" >&2; }

if [ "$#" -gt 1 ]; then
  usage
  printf 'guest: expected at most one guest name, got %d arguments\n' "$#" >&2
  exit 2
fi
case "${1:-busybox}" in
  busybox) exec bash "$here/build-guest.sh" ;;
  debian) exec bash "$here/guest/debian.sh" ;;
  -h | --help) usage; exit 0 ;;
  *)
    usage
    printf "guest: unknown guest '%s'; known guests: busybox, debian\n" "$1" >&2
    exit 2
    ;;
esac
