//! The demo camera (`camera.source = "demo"`): a face drawn from primitives (`face`) that
//! acts the seven emotions in turn, so `xpressify demo` shows the whole box on a machine
//! without a camera.

use std::time::Duration;

use super::{Frame, FrameSource, Pacer, SourceError};

pub mod face;

/// The demo camera (`camera.source = "demo"`): a drawn face that acts the seven emotions in
/// turn ([`face::SEQUENCE`]), holding each for a while and drifting a little, for
/// machines without a camera. It never ends.
pub struct DemoSource {
    pacer: Pacer,
    frames_per_expression: u64,
    produced: u64,
}

impl DemoSource {
    /// Frames at `fps`, each expression held for `hold` (at least one frame).
    pub fn new(fps: f32, hold: Duration) -> DemoSource {
        // Unpaced (fps 0) counts as 4 fps for holding, so expressions still change.
        let rate = if fps > 0.0 { fps } else { 4.0 };
        let per = (hold.as_secs_f32() * rate).round().max(1.0) as u64;
        DemoSource {
            pacer: Pacer::new(fps),
            frames_per_expression: per,
            produced: 0,
        }
    }

    /// The emotion the face acts in frame `index`.
    pub fn acted(&self, index: u64) -> xpressify_protocol::Emotion {
        let seq = face::SEQUENCE;
        seq[((index / self.frames_per_expression) % seq.len() as u64) as usize]
    }
}

impl FrameSource for DemoSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        self.pacer.wait();
        let index = self.produced;
        let image = face::frame(self.acted(index), index as usize);
        self.produced += 1;
        Ok(Some(Frame::now(index, image)))
    }

    fn describe(&self) -> String {
        format!(
            "the demo face, {} frames per expression, at {}",
            self.frames_per_expression,
            self.pacer.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_face_acts_each_emotion_in_turn() {
        use face::SEQUENCE;
        // Unpaced counts as 4 fps: 0.5 s per expression is two frames each.
        let mut s = DemoSource::new(0.0, Duration::from_millis(500));
        s.pacer = Pacer::new(0.0);
        let acted: Vec<_> = (0..16).map(|i| s.acted(i)).collect();
        assert_eq!(
            acted[..4],
            [SEQUENCE[0], SEQUENCE[0], SEQUENCE[1], SEQUENCE[1]]
        );
        assert_eq!(
            acted[2 * SEQUENCE.len()],
            SEQUENCE[0],
            "then it starts again"
        );
        let frames: Vec<Frame> = (0..3)
            .map(|_| s.next_frame().expect("ok").expect("never ends"))
            .collect();
        assert_eq!(frames[0].image.dimensions(), (640, 480));
        assert_ne!(frames[0].image, frames[1].image, "the face drifts");
        assert_eq!(frames[2].index, 2);
    }
}
