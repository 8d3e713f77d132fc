#!/usr/bin/env bash
# Installs the Debian packages nubo needs, idempotently. Run as root.
# Shared by the README's quick start and .ci/run so that both install the same.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  qemu-system-x86   # the hypervisor (KVM where available, TCG otherwise)
  qemu-utils        # qemu-img: overlays, conversion, inspection
  busybox-static    # only its package file is used, for the guest initramfs
  cpio              # packs the guest initramfs
  e2fsprogs         # mkfs.ext4 for the guest data disk
  genisoimage       # isoinfo: tests read config drives back (nubo builds the ISO in-process)
  iproute2          # TAP devices, bridges, network namespaces
  postgresql        # the scale-out store dialect; tests start their own cluster
  openssl           # the migration PKI: CA and per-host TLS certificates for QEMU
  xz-utils          # some kernel packages ship xz-compressed modules
  mmdebstrap        # bootstraps the Debian guest image (nubo image build-debian) from the apt mirror
  openssh-client    # nubo vm ssh runs the system ssh (and ssh-keygen in its tests)
  chromium          # the dashboard's browser tests (playwright-core drives it; no browser download)
  awscli            # S3/EC2 compatibility tests drive the real client (/usr/bin/aws)
  python3           # the agent's fd sender: hands a saving QEMU its state file over SCM_RIGHTS (Node cannot)
  python3-boto3     # the same with boto3 (/usr/bin/python3; PyPI is not reachable)
  nftables          # security groups: a bridge-family table per VM TAP (/usr/sbin/nft)
  iputils-ping      # the migrate bench's network-level downtime probe: ping -D -i 0.005 (timestamps, no TCP retransmit timers)
  ca-certificates
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The image build fetches the guest kernel with `apt-get download`, which needs current package lists.
# Lists older than a day may name a kernel the mirror no longer has.
if [ "${#missing[@]}" -gt 0 ] || [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "system packages: ok"

# Guest RAM is a memfd (shared memory, so that a suspend can copy it beside QEMU: docs/suspend.md). Debian's kernel
# gives shared memory no transparent huge pages ([never]), so guest RAM would lose the 2 MiB pages that QEMU's
# madvise gets it as anonymous memory — slower guests under KVM, slower loads. `advise` gives huge pages only to
# mappings that ask (QEMU's guest RAM, the resume's fill); other shared memory is unchanged. Set now and at boot;
# a policy an operator chose (always, within_size, force) is left alone.
thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
if [ -w "$thp" ] && grep -q '\[never\]' "$thp"; then
  echo advise > "$thp"
  if [ -d /etc/tmpfiles.d ]; then
    echo "w $thp - - - - advise" > /etc/tmpfiles.d/nubo-shmem-thp.conf
  fi
  echo "shared memory transparent huge pages: advise (was never)"
fi
