//! The privacy switch: whether the camera may be used. Turned by Home Assistant's switch or
//! anyone publishing on `…/camera/set`, or by a long press on the play/pause button. While it
//! is off the vision loop closes the camera and reads nothing; the state is kept in a file, so
//! a box switched off stays off across restarts and power cuts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};
use xpressify_protocol::CameraState;

/// The camera's state when no state file says otherwise (`privacy.camera`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraAtStart {
    /// Read moods from the start.
    On,
    /// Start with the camera closed until someone turns it on.
    Off,
}

/// `[privacy]` in the device config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// `on` or `off`: the camera's state the first time the box starts (afterwards the state
    /// file keeps the last one).
    pub camera: CameraAtStart,
    /// Where the switch's state is kept across restarts; empty: `camera-<device_id>` in
    /// systemd's `$STATE_DIRECTORY` when it gives one, else it is not kept.
    pub state_file: String,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            camera: CameraAtStart::On,
            state_file: String::new(),
        }
    }
}

impl PrivacyConfig {
    /// The state file to use for `device_id`, if any.
    pub fn state_path(&self, device_id: &str) -> Option<PathBuf> {
        if !self.state_file.is_empty() {
            return Some(PathBuf::from(&self.state_file));
        }
        std::env::var_os("STATE_DIRECTORY")
            .map(PathBuf::from)
            // systemd may list several directories separated by ':'; the first is ours.
            .and_then(|dirs| {
                dirs.to_str()
                    .and_then(|d| d.split(':').next())
                    .map(PathBuf::from)
            })
            .map(|dir| dir.join(format!("camera-{device_id}")))
    }
}

/// The switch, shared by whoever may turn it (the MQTT session, the buttons) and whoever
/// follows it (the vision loop, the screen, the LED).
#[derive(Debug)]
pub struct CameraSwitch {
    state: watch::Sender<bool>,
    file: Option<PathBuf>,
}

impl CameraSwitch {
    /// The switch as the state file (or, without one, the config) says.
    pub fn load(config: &PrivacyConfig, device_id: &str) -> Self {
        let file = config.state_path(device_id);
        let default = config.camera == CameraAtStart::On;
        let on = match file.as_deref().map(read_state) {
            Some(Ok(Some(state))) => state.is_on(),
            Some(Ok(None)) | None => default,
            Some(Err(e)) => {
                warn!(error = %e, default = if default { "on" } else { "off" }, "cannot read the camera's saved state; using privacy.camera");
                default
            }
        };
        match &file {
            Some(path) => {
                info!(camera = CameraState::from_on(on).as_str(), file = %path.display(), "privacy switch")
            }
            None => info!(
                camera = CameraState::from_on(on).as_str(),
                "privacy switch (its state is not kept across restarts: set privacy.state_file)"
            ),
        }
        CameraSwitch {
            state: watch::Sender::new(on),
            file,
        }
    }

    /// Whether the camera may be used now.
    pub fn is_on(&self) -> bool {
        *self.state.borrow()
    }

    /// Follows the state.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.state.subscribe()
    }

    /// Turns the camera on or off (`by` names who, for the log); saves the new state. Returns
    /// whether it changed.
    pub fn set(&self, on: bool, by: &str) -> bool {
        let changed = self
            .state
            .send_if_modified(|s| std::mem::replace(s, on) != on);
        if changed {
            info!(
                camera = CameraState::from_on(on).as_str(),
                by, "privacy switch turned"
            );
            if let Some(path) = &self.file
                && let Err(e) = write_state(path, CameraState::from_on(on))
            {
                warn!(error = %e, file = %path.display(), "cannot save the camera's state; it will not survive a restart");
            }
        }
        changed
    }

    /// Turns it the other way (the long press).
    pub fn toggle(&self, by: &str) -> bool {
        self.set(!self.is_on(), by)
    }
}

fn read_state(path: &Path) -> std::io::Result<Option<CameraState>> {
    match std::fs::read(path) {
        Ok(bytes) => CameraState::decode(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        )),
    }
}

/// Writes atomically (a temporary file renamed over the old one), so a power cut leaves
/// either state, never an empty file.
fn write_state(path: &Path, state: CameraState) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, state.encode())?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, camera: CameraAtStart) -> PrivacyConfig {
        PrivacyConfig {
            camera,
            state_file: dir.join("camera").to_string_lossy().into_owned(),
        }
    }

    #[test]
    fn the_state_survives_a_restart_and_the_default_applies_only_without_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = CameraSwitch::load(&config(dir.path(), CameraAtStart::Off), "a");
        assert!(!first.is_on(), "privacy.camera = off at the first start");
        assert!(first.set(true, "test"));
        assert!(!first.set(true, "test"), "no change, no write");
        let again = CameraSwitch::load(&config(dir.path(), CameraAtStart::Off), "a");
        assert!(again.is_on(), "the saved state wins over the default");
        again.toggle("test");
        let third = CameraSwitch::load(&config(dir.path(), CameraAtStart::On), "a");
        assert!(!third.is_on());
    }

    #[test]
    fn a_damaged_state_file_falls_back_to_the_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("camera"), b"garbage").expect("write");
        let s = CameraSwitch::load(&config(dir.path(), CameraAtStart::On), "a");
        assert!(s.is_on());
    }
}
