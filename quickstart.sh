#!/usr/bin/env bash
# One command from a fresh Debian 12 checkout to a running cloud (run as root):
# installs the system packages that are missing, installs and builds nubo,
# then runs the all-in-one cloud in the foreground (`nubo up`), which builds
# the nubo-tiny guest image on first use. Ctrl-C stops it; VMs keep running.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" -ne 0 ]; then
  echo "quickstart.sh needs root (it installs Debian packages and creates network devices)" >&2
  exit 2
fi
bash scripts/install-deps.sh
if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "nubo needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 2
fi
# npm ci also builds (the prepare script); skip it when the build is current.
if [ ! -d node_modules ] || [ ! -f dist/src/cli/nubo.js ] || [ package-lock.json -nt dist/src/cli/nubo.js ]; then
  npm ci
fi
exec bin/nubo up "$@"
