#!/bin/bash
# Install the Debian 12 build and test dependencies of binfmt-installer, but only
# when something is missing (checked with dpkg-query first; no network otherwise).
set -euo pipefail

PKGS=(
    build-essential pkg-config
    libelf-dev libcap-dev libmount-dev libjansson-dev libkmod-dev
    libarchive-dev nettle-dev  # emu-run --image: the tars, their compression, sha256
    libcmocka-dev
    qemu-user-static
    perl            # prove(1)
    util-linux      # unshare(1), mount(8)
    uidmap mmdebstrap  # emu-run's subordinate ids (newuidmap); the Debian roots (tests/fixtures/debian-roots.sh)
    arch-test       # mmdebstrap refuses a foreign --architectures without it (a Recommends only)
    buildah skopeo  # images for emu-run --image (80-emu-run-image.sh)
    valgrind clang libclang-rt-14-dev
    file ca-certificates debian-archive-keyring dpkg-dev
    python3         # reading JSON in the integration tests
    debhelper python3-yaml systemd  # make deb; DaemonSet check; systemd-analyze/systemd-binfmt (90-packaging.sh)
    ninja-build flex bison libglib2.0-dev python3-venv  # QEMU_PAYLOAD=rebuilt (qemu-static/build.sh)
)

missing=()
for p in "${PKGS[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    # "ii " = wanted install, currently installed, no error flag
    [[ $status == ii* ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    echo "deps: all present"
    exit 0
fi

SUDO=()
if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "deps: missing ${missing[*]} and not root (no sudo available)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null; then
    echo "deps: apt-get update failed" >&2
    exit 1
fi
if ! "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    echo "deps: apt-get install failed for: ${missing[*]}" >&2
    exit 1
fi
echo "deps: installed ${missing[*]}"
