//! Corrections tune what a camera recognises: the companion keeps what each device read in
//! the last seconds ([`recent`]), stores it with every "that's not my mood", fits per-class
//! offsets of the model's output from a device's corrections ([`fit`]) and publishes them,
//! retained, on `…/calibration`, one message per burst of corrections. [`evaluate`]
//! measures what that is worth (docs/calibration.md).

pub mod evaluate;
pub mod fit;
pub mod keeper;
pub mod recent;
