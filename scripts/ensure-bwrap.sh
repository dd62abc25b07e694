#!/usr/bin/env bash
# Make sure bubblewrap (the sandbox) is installed and usable; install it with apt when we are root.
set -euo pipefail
works() { command -v bwrap >/dev/null 2>&1 && bwrap --unshare-all --ro-bind / / -- /bin/true 2>/dev/null; }
# As root, the sandbox runs as an unprivileged uid; setfacl (package acl) lets mdbot grant it search-only
# access to a private directory above the project (a 0700 temporary directory, say).
if [ "$(id -u)" = 0 ] && ! command -v setfacl >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "Installing acl (setfacl) for the sandbox user's access …"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq acl >/dev/null || true
fi
works && exit 0
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing bubblewrap (the LAMMPS sandbox) with apt-get …"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap acl >/dev/null
    works && exit 0
  else
    echo "bubblewrap is missing. Install it with:  sudo apt-get install bubblewrap" >&2
    echo "(mdbot refuses untrusted runs without it unless MDBOT_ALLOW_UNSANDBOXED=true)" >&2
    exit 0
  fi
fi
echo "bubblewrap is installed but cannot create namespaces here; enable unprivileged user namespaces:" >&2
echo "  sudo sysctl -w kernel.unprivileged_userns_clone=1   (Debian/Ubuntu)" >&2
