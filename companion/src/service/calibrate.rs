//! The service's calibration duties: readings in, corrections stored with them, and each
//! device's calibration published (retained) when due, on reset and on every connection.
//! The bookkeeping is [`crate::calibration::keeper`]'s; this is the I/O around it.

use rumqttc::{AsyncClient, QoS};
use tracing::{info, warn};
use xpressify_protocol::topics::Channel;
use xpressify_protocol::{Calibration, Emotion, ProbabilitiesEvent, Topics};

use super::Service;
use crate::calibration::keeper::CorrectionError;
use crate::clock::now_ms;
use crate::store::{MoodCorrection, StoreError};

impl Service {
    /// A `…/probabilities` message: kept for a correction to come, if the device is known.
    pub(super) fn on_reading(&mut self, device: &str, payload: &[u8]) {
        match ProbabilitiesEvent::decode(payload) {
            Ok(event) if event.device_id == device => {
                if self.devices.contains(device) {
                    self.calibrations
                        .on_reading(device, now_ms(), &event.probabilities);
                }
            }
            Ok(event) => {
                let why = format!("device_id {:?} differs from the topic's", event.device_id);
                self.refuse(Channel::Probabilities, device, why);
            }
            Err(e) => self.refuse(Channel::Probabilities, device, e),
        }
    }

    /// "That's not my mood" for `device`: stored with what the device showed and read; a
    /// known device's calibration becomes due. `detected` is what the page showed, else the
    /// device's newest mood.
    pub(super) fn on_correction(
        &mut self,
        device: &str,
        detected: Option<Option<Emotion>>,
        actual: Option<Emotion>,
    ) -> Result<MoodCorrection, CorrectionError> {
        let view = self.devices.view(device);
        let known = view.is_some();
        let shown = view
            .filter(|v| v.since_ms != 0)
            .map(|v| (v.emotion, v.probabilities));
        let detected = detected.unwrap_or_else(|| shown.and_then(|(e, _)| e));
        let smoothed = shown.and_then(|(e, p)| e.map(|_| p));
        let stored =
            self.calibrations
                .correct(device, (detected, actual), smoothed, known, now_ms())?;
        info!(
            %device,
            detected = ?stored.detected,
            actual = ?stored.actual,
            frames = stored.frames.len(),
            "mood corrected"
        );
        Ok(stored)
    }

    /// Forgets `device`'s corrections and publishes the identity calibration.
    pub(super) async fn on_reset(
        &mut self,
        client: &AsyncClient,
        device: &str,
    ) -> Result<(), StoreError> {
        let c = self.calibrations.reset(device, now_ms())?;
        info!(%device, version = c.version, "calibration reset");
        self.publish_calibration(client, &c).await;
        Ok(())
    }

    /// Fits and publishes the calibrations a burst of corrections made due.
    pub(super) async fn publish_due_calibrations(&mut self, client: &AsyncClient) {
        let now = now_ms();
        for device in self.calibrations.take_due(now) {
            match self.calibrations.refit(&device, now) {
                Ok(c) => {
                    info!(
                        %device,
                        version = c.version,
                        corrections = c.corrections,
                        offsets = ?c.offsets,
                        "calibration fitted"
                    );
                    self.publish_calibration(client, &c).await;
                }
                Err(e) => warn!(%device, error = %e, "cannot fit the calibration"),
            }
        }
    }

    /// Publishes every kept calibration again (the one-box's broker keeps no retained
    /// message across restarts), and shows them on the page.
    pub(super) async fn publish_kept_calibrations(&mut self, client: &AsyncClient) {
        let kept = match self.calibrations.published() {
            Ok(kept) => kept,
            Err(e) => {
                warn!(error = %e, "cannot read the calibrations");
                return;
            }
        };
        for k in kept {
            match Calibration::decode(&k.payload) {
                Ok(c) => self.publish_calibration(client, &c).await,
                Err(e) => {
                    warn!(device = %k.device, error = %e, "a stored calibration is unreadable")
                }
            }
        }
    }

    async fn publish_calibration(&mut self, client: &AsyncClient, c: &Calibration) {
        self.devices.set_calibration(&c.device_id, c);
        let Ok(topics) = Topics::new(&self.config.mqtt.prefix, &c.device_id) else {
            return;
        };
        if let Err(e) = client
            .publish(topics.calibration(), QoS::AtLeastOnce, true, c.encode())
            .await
        {
            warn!(device = %c.device_id, error = %e, "cannot queue the calibration");
        }
    }
}
