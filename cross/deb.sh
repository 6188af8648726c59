#!/usr/bin/env bash
# Packages the aarch64 binaries built by cross/build.sh as one .deb each (dpkg-deb, no extra
# tools): the binary (the models are built into it), a default config in /etc/xpressify/ (a
# conffile, kept on upgrade), a systemd unit, the docs and licences, and a `xpressify` system
# user in the groups the hardware needs. Three packages: `xpressify`, the one-box speaker most
# people install, and `xpressify-device` + `xpressify-companion` for split installs.
# Output: target dir's debian/*.deb.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/env.sh
source cross/env.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
bin_dir="$CARGO_TARGET_DIR/$XP_TARGET/pi"
out="$CARGO_TARGET_DIR/debian"
mkdir -p "$out"

package() { # name description config extra-groups
  local name=$1 description=$2 config=$3 groups=$4
  local root
  root=$(mktemp -d)
  install -Dm755 "$bin_dir/$name" "$root/usr/bin/$name"
  install -Dm644 "config/$config" "$root/etc/xpressify/$config"
  install -Dm644 "cross/systemd/$name.service" "$root/lib/systemd/system/$name.service"
  install -Dm644 README.md "$root/usr/share/doc/$name/README.md"
  install -Dm644 LICENSE "$root/usr/share/doc/$name/copyright"
  install -Dm644 LICENSES.md "$root/usr/share/doc/$name/LICENSES.md"
  mkdir -p "$root/DEBIAN"
  cat > "$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: arm64
Maintainer: Xpressify developers <xpressify@example.invalid>
Depends: libc6 (>= 2.31)
Section: sound
Priority: optional
Description: $description
CONTROL
  echo "/etc/xpressify/$config" > "$root/DEBIAN/conffiles"
  cat > "$root/DEBIAN/postinst" <<POSTINST
#!/bin/sh
set -e
if [ "\$1" = configure ]; then
  getent passwd xpressify >/dev/null || adduser --system --group --home /var/lib/xpressify --no-create-home xpressify
  for g in $groups; do getent group "\$g" >/dev/null && adduser xpressify "\$g" >/dev/null || true; done
  # The config may hold secrets (API key, tokens, passwords): readable by the service only.
  chown root:xpressify /etc/xpressify/$config
  chmod 0640 /etc/xpressify/$config
  systemctl daemon-reload >/dev/null 2>&1 || true
  echo "$name installed: edit /etc/xpressify/$config, then: systemctl enable --now $name"
fi
POSTINST
  cat > "$root/DEBIAN/prerm" <<PRERM
#!/bin/sh
set -e
systemctl stop $name >/dev/null 2>&1 || true
PRERM
  chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm"
  echo "$root"
}

root=$(package xpressify-device "Xpressify device: camera -> emotion -> mood over MQTT" device.toml "video i2c spi gpio")
# The models are built into the binary; their card and the detector's licence go with it.
models_doc() { # package root
  for f in LICENSE.yunet.txt MODEL.md; do
    install -Dm644 "models/$f" "$2/usr/share/doc/$1/$f"
  done
}
models_doc xpressify-device "$root"
dpkg-deb --root-owner-group --build "$root" "$out/xpressify-device_${version}_arm64.deb"
rm -rf "$root"

root=$(package xpressify-companion "Xpressify companion: moods become music, with a web page" companion.toml "audio")
# The speaker sink plays through mpv; the web page and Home Assistant sinks need nothing.
echo "Recommends: mpv" >> "$root/DEBIAN/control"
dpkg-deb --root-owner-group --build "$root" "$out/xpressify-companion_${version}_arm64.deb"
rm -rf "$root"

root=$(package xpressify "Xpressify box: camera -> mood -> music, with its own MQTT broker and web page" xpressify.toml "video i2c spi gpio audio")
models_doc xpressify "$root"
echo "Recommends: mpv" >> "$root/DEBIAN/control"
dpkg-deb --root-owner-group --build "$root" "$out/xpressify_${version}_arm64.deb"
rm -rf "$root"
ls -l "$out"/*.deb
