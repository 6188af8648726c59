//! Colours per panel kind: one set for monochrome OLEDs, one for colour TFTs. The layout only
//! ever asks a [`Theme`], so it never branches on the colour type.

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565, RgbColor};
use xpressify_protocol::Emotion;

/// The colours a screen is drawn with.
#[derive(Debug, Clone, Copy)]
pub struct Theme<C> {
    /// Behind everything.
    pub background: C,
    /// Text and face features.
    pub foreground: C,
    /// Secondary text, the empty part of the bar, the "nobody here" face.
    pub dim: C,
    /// Status marks (what is broken).
    pub alert: C,
    /// The head outline and bar per emotion, in FER order.
    pub emotion: [C; Emotion::COUNT],
}

impl<C: Copy> Theme<C> {
    /// The colour of `emotion`'s head and bar.
    pub fn accent(&self, emotion: Emotion) -> C {
        self.emotion[emotion.index()]
    }
}

impl Theme<BinaryColor> {
    /// Lit pixels on black: how an SSD1306 looks best.
    pub const MONO: Theme<BinaryColor> = Theme {
        background: BinaryColor::Off,
        foreground: BinaryColor::On,
        dim: BinaryColor::On,
        alert: BinaryColor::On,
        emotion: [BinaryColor::On; Emotion::COUNT],
    };
}

impl Theme<Rgb565> {
    /// Dark background with one colour per emotion, readable across a room.
    pub const COLOUR: Theme<Rgb565> = Theme {
        background: Rgb565::new(2, 4, 3),
        foreground: Rgb565::WHITE,
        dim: Rgb565::new(12, 25, 12),
        alert: Rgb565::new(31, 10, 4),
        // angry, disgust, fear, happy, sad, surprise, neutral
        emotion: [
            Rgb565::new(31, 12, 8),
            Rgb565::new(12, 48, 8),
            Rgb565::new(22, 20, 31),
            Rgb565::new(31, 56, 4),
            Rgb565::new(8, 32, 31),
            Rgb565::new(31, 40, 0),
            Rgb565::new(20, 40, 20),
        ],
    };
}
