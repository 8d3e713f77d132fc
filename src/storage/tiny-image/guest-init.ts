/**
 * The nubo-tiny guest's `/init`, run by busybox sh as PID 1.
 *
 * Everything the guest does is in this one script so that a test failure can
 * be read against one page of shell. It is a template literal: shell `${…}`
 * is written `\${…}` and backslashes are doubled.
 */

/** The line init prints on the serial console when the guest is usable. */
export const READY_MARKER = 'NUBO-READY';

/** Relative to /lib/modules/<version>/: the modules, one per line, in load order. */
export const MODULE_LOAD_LIST = 'nubo-load-order';

export const GUEST_INIT = `#!/bin/sh
# nubo-tiny /init — PID 1. If this script exits the kernel panics, so every
# step below tolerates failure and the script ends in a loop that never returns.
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
umask 022

# devtmpfs first: the console and every device lookup below live in /dev.
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# The kernel opened /dev/console for us only if the initramfs carried the node
# (it does when the image was built as root); re-open it so output reaches
# ttyS0 either way.
exec </dev/console >/dev/console 2>&1
# The firmware leaves its last console line unterminated; start ours afresh
# so that the readiness marker always begins a line.
echo
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /run /tmp /data /etc /www/cgi-bin

log() { echo "nubo-tiny: $*"; }

# --- kernel modules ---------------------------------------------------------
# There is no modprobe/modules.dep in the image: the build wrote the exact
# order (dependencies first: virtio core, then PCI transport, then drivers).
# insmod probes existing devices synchronously, so once virtio_blk is loaded
# the disks are in /dev.
kver=$(uname -r)
while read -r ko; do
  [ -n "$ko" ] || continue
  insmod "/lib/modules/$kver/$ko" || log "insmod $ko failed"
done < "/lib/modules/$kver/${MODULE_LOAD_LIST}"

# Bring every NIC up now so that carrier detection overlaps the rest of the
# boot; the per-NIC configuration below only adds addresses and routes.
for n in /sys/class/net/*; do
  ip link set dev "\${n##*/}" up
done

# --- power button -> clean shutdown -----------------------------------------
# QEMU's system_powerdown raises an ACPI power-button event; the 'button'
# driver turns it into KEY_POWER on an input device named "Power Button".
# Nothing like acpid/systemd listens here, so a watcher blocks reading that
# device's evdev node: the first event means "power off".
shutdown_now() {
  log "power button pressed, shutting down"
  # kill -1 spares PID 1 and the caller; TERM first so user-data writers can
  # finish a write, then KILL so nothing keeps /data busy.
  kill -TERM -1 2>/dev/null
  usleep 200000
  kill -KILL -1 2>/dev/null
  sync
  if grep -q ' /data ' /proc/mounts; then
    umount /data 2>/dev/null || mount -o remount,ro /data
  fi
  sync
  # -f: there is no init daemon to ask; this is the reboot(2) call itself,
  # and ACPI S5 makes QEMU exit.
  poweroff -f
}
watching=0
for ev in /sys/class/input/event*; do
  [ "$(cat "$ev/device/name" 2>/dev/null)" = "Power Button" ] || continue
  # evdev only returns whole 24-byte events; a 4 KiB read takes whatever came.
  ( dd if="/dev/input/\${ev##*/}" of=/dev/null bs=4096 count=1 2>/dev/null && shutdown_now ) &
  watching=1
done
[ "$watching" = 1 ] || log "no ACPI power button found; system_powerdown will be ignored"

# --- config drive (NoCloud, label cidata) -----------------------------------
# Flattens the block-style YAML subset nubo writes into "dotted.key value"
# lines; list items print under their parent key, one line each. Flow style
# ([a, b], {k: v}) is not understood, and nubo never emits it.
yaml_flat() {
  awk '
    function trim(s) {
      sub(/^[ \\t]+/, "", s); sub(/[ \\t]+$/, "", s)
      if (s ~ /^".*"$/) s = substr(s, 2, length(s) - 2)
      return s
    }
    function path(   p, i) {
      p = ""
      for (i = 1; i <= depth; i++) p = p (i > 1 ? "." : "") key[i]
      return p
    }
    { sub(/\\r$/, "") }
    /^[ \\t]*(#|$)/ { next }
    {
      match($0, /^ */); ind = RLENGTH; line = substr($0, ind + 1)
      item = (line ~ /^- /)
      # A key at the same indent as an open parent is its sibling; a list
      # item may sit at its parent key indent ("k:" newline "- x").
      while (depth > 0 && (ind < indent[depth] || (!item && ind == indent[depth]))) depth--
      if (item) { print path() " " trim(substr(line, 3)); next }
      k = line; sub(/:.*/, "", k)
      v = line; if (!sub(/^[^:]*:/, "", v)) next
      v = trim(v)
      if (v == "") { depth++; indent[depth] = ind; key[depth] = k }
      else print path() (depth ? "." : "") k " " v
    }' "$1"
}

# Disks were probed synchronously by insmod; the short wait only covers a
# slow TCG boot. Absence of the config drive is not fatal: the guest still
# comes up with defaults so a broken drive shows as wrong data, not a hang.
find_label() {
  i=0
  while [ "$i" -lt "$2" ]; do
    findfs "LABEL=$1" 2>/dev/null && return 0
    usleep 50000
    i=$((i + 1))
  done
  return 1
}

iid=nubo-tiny
host=nubo-tiny
cidata=
if dev=$(find_label cidata 40); then
  mkdir -p /run/cidata
  if mount -t iso9660 -o ro "$dev" /run/cidata; then
    cidata=/run/cidata
  else
    log "cannot mount config drive $dev"
  fi
else
  log "no config drive (label cidata)"
fi
if [ -n "$cidata" ] && [ -f "$cidata/meta-data" ]; then
  yaml_flat "$cidata/meta-data" > /run/meta-data.flat
  while read -r k v; do
    case "$k" in
      instance-id) iid=$v ;;
      local-hostname) host=$v ;;
    esac
  done < /run/meta-data.flat
fi

hostname "$host"
echo "$host" > /etc/hostname
printf '127.0.0.1 localhost\\n127.0.1.1 %s\\n' "$host" > /etc/hosts

# --- network (netplan v2 subset) --------------------------------------------
# Each ethernets.<id> collects into /run/net/<id>/ (a file per field): sh has
# no maps, and this keeps the applied config inspectable from a shell.
ip link set lo up
: > /etc/resolv.conf
if [ -n "$cidata" ] && [ -f "$cidata/network-config" ]; then
  yaml_flat "$cidata/network-config" > /run/network-config.flat
  while read -r k v; do
    case "$k" in ethernets.*.*) ;; *) continue ;; esac
    rest=\${k#ethernets.}
    id=\${rest%%.*}
    field=\${rest#*.}
    # The id becomes a path component below.
    case "$id" in *[!A-Za-z0-9_-]*) log "ignoring interface id $id"; continue ;; esac
    d=/run/net/$id
    mkdir -p "$d"
    case "$field" in
      match.macaddress) echo "$v" | tr 'A-F' 'a-f' > "$d/mac" ;;
      set-name) echo "$v" > "$d/name" ;;
      addresses) echo "$v" >> "$d/addresses" ;;
      gateway4|gateway6) echo "$v" >> "$d/gateways" ;;
      nameservers.addresses) echo "nameserver $v" >> /etc/resolv.conf ;;
      nameservers.search) echo "search $v" >> /etc/resolv.conf ;;
    esac
  done < /run/network-config.flat
fi
configured=
for d in /run/net/*; do
  [ -d "$d" ] || continue
  id=\${d##*/}
  want=$(cat "$d/name" 2>/dev/null || echo "$id")
  mac=$(cat "$d/mac" 2>/dev/null)
  dev=
  if [ -n "$mac" ]; then
    for n in /sys/class/net/*; do
      [ "$(cat "$n/address")" = "$mac" ] && dev=\${n##*/}
    done
  elif [ -e "/sys/class/net/$id" ]; then
    dev=$id
  fi
  if [ -z "$dev" ]; then
    log "no NIC for $id (mac $mac)"
    continue
  fi
  # Renaming needs the link down. It can clash with another NIC's kernel
  # name; keep the kernel name then rather than leave the NIC unconfigured.
  if [ "$dev" != "$want" ]; then
    ip link set dev "$dev" down
    ip link set dev "$dev" name "$want" 2>/dev/null && dev=$want
    ip link set dev "$dev" up
  fi
  [ -f "$d/addresses" ] && while read -r a; do
    ip addr add "$a" dev "$dev" || log "cannot add $a to $dev"
  done < "$d/addresses"
  [ -f "$d/gateways" ] && while read -r g; do
    ip route add default via "$g" dev "$dev" || log "cannot add default route via $g"
  done < "$d/gateways"
  configured="$configured $dev"
done

# --- data disk ---------------------------------------------------------------
# Persistent state lives on the qcow2 data disk (label nubo-data), so tests
# can show it survives reboot and migration. No disk: carry on without it.
if dev=$(find_label nubo-data 1); then
  mount -t ext4 -o noatime "$dev" /data || log "cannot mount data disk $dev"
else
  log "no data disk (label nubo-data)"
fi

# --- web root ----------------------------------------------------------------
# /www/file-512k was baked into the image (a deterministic pattern, so a
# client can verify every byte). The rest depends on this boot's identity.
cat > /www/index.html <<EOF
<!doctype html>
<title>$host</title>
<p>hostname: $host</p>
<p>instance-id: $iid</p>
EOF
cat > /www/cgi-bin/uptime <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
read -r up _ < /proc/uptime
echo "$up"
EOF
cat > /www/cgi-bin/hostname <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
hostname
EOF
# GET /cgi-bin/burn?seconds=N keeps one CPU busy for N seconds (1..3600):
# a shell loop in the background, so autoscaling and the rebalancer can be
# shown a busy guest. User-data may call /bin/nubo-burn N directly.
cat > /bin/nubo-burn <<'EOF'
#!/bin/sh
n=$1
case "$n" in ''|*[!0-9]*) echo "seconds must be a whole number" >&2; exit 2 ;; esac
[ "$n" -ge 1 ] && [ "$n" -le 3600 ] || { echo "seconds must be from 1 to 3600" >&2; exit 2; }
( end=$(( $(cut -d. -f1 /proc/uptime) + n )); while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do :; done ) >/dev/null 2>&1 &
echo "burning one CPU for $n s"
EOF
cat > /www/cgi-bin/burn <<'EOF'
#!/bin/sh
n=$(echo "$QUERY_STRING" | sed -n 's/^\\(.*&\\)\\{0,1\\}seconds=\\([0-9]*\\).*$/\\2/p')
if out=$(/bin/nubo-burn "$n" 2>&1); then
  printf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' "$out"
else
  printf 'Status: 400 Bad Request\\r\\nContent-Type: text/plain\\r\\n\\r\\n%s\\n' "$out"
fi
EOF
chmod 755 /www/cgi-bin/uptime /www/cgi-bin/hostname /www/cgi-bin/burn /bin/nubo-burn
# busybox httpd follows symlinks, so GET /data/<name> reads <name> from the
# data disk; it rejects "..", which keeps requests inside /data.
ln -sfn /data /www/data

# virtio-net reports its carrier from a work item shortly after the probe;
# a NIC whose carrier comes later gets its queue attached only then. Wait
# for it (briefly: a TAP with nothing behind it has none) so that the marker
# means "reachable". operstate would be the wrong test: the kernel updates it
# up to a second late, while traffic already flows.
for dev in $configured; do
  i=0
  while [ "$(cat "/sys/class/net/$dev/carrier" 2>/dev/null)" != 1 ] && [ "$i" -lt 100 ]; do
    usleep 20000
    i=$((i + 1))
  done
  [ "$i" -lt 100 ] || log "$dev: no carrier"
done

# httpd binds port 80 before it daemonizes, so it accepts connections once
# this command returns.
httpd -p 80 -h /www || log "httpd failed to start"

echo "${READY_MARKER} $iid"

# --- user-data -----------------------------------------------------------------
# Runs on every boot (like rc.local, unlike cloud-init's once per instance):
# tests use it to write into /data and then check across reboots. Started
# after the marker so its output never splits the marker line.
if [ -n "$cidata" ] && [ "$(head -c 2 "$cidata/user-data" 2>/dev/null)" = '#!' ]; then
  cp "$cidata/user-data" /run/user-data
  chmod 700 /run/user-data
  (cd / && exec /run/user-data) &
fi

# --- console shell ---------------------------------------------------------------
# A root shell on the serial console (\`nubo vm console --attach\`), started
# only after a line is typed there (like "Please press Enter to activate this
# console"): an unattended console's log then holds no prompt between the
# lines that tests read from it. Respawned when the shell exits.
(
  while :; do
    read -r _ </dev/ttyS0 || { sleep 1; continue; }
    setsid cttyhack sh -l </dev/ttyS0 >/dev/ttyS0 2>&1
  done
) &

# PID 1 must never exit; 'wait' also reaps orphans re-parented to us.
while :; do
  sleep 3600 &
  wait
done
`;
