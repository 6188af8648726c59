#!/usr/bin/env bash
# Packages the aarch64 binaries built by cross/build.sh as one .deb each (dpkg-deb, no extra
# tools): the binary, the models (device), a default config in /etc/xpressify/ (a conffile,
# kept on upgrade), a systemd unit, and a `xpressify` system user in the groups the hardware
# needs. Output: target dir's debian/*.deb.
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
for f in emotion.onnx emotion-float.onnx emotion-fast.onnx emotion.json face_detection_yunet_2026may.onnx LICENSE.yunet.txt MODEL.md; do
  install -Dm644 "models/$f" "$root/usr/share/xpressify/models/$f"
done
# The packaged config finds the models where the package puts them.
sed -i 's|^models_dir = "models"|models_dir = "/usr/share/xpressify/models"|;
        s|^model = "models/face_detection|model = "/usr/share/xpressify/models/face_detection|' \
  "$root/etc/xpressify/device.toml"
dpkg-deb --root-owner-group --build "$root" "$out/xpressify-device_${version}_arm64.deb"
rm -rf "$root"

root=$(package xpressify-companion "Xpressify companion: moods become music, with a web page" companion.toml "audio")
# The speaker sink plays through mpv; the web page and Home Assistant sinks need nothing.
echo "Recommends: mpv" >> "$root/DEBIAN/control"
dpkg-deb --root-owner-group --build "$root" "$out/xpressify-companion_${version}_arm64.deb"
rm -rf "$root"
ls -l "$out"/*.deb
