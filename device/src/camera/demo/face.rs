//! The faces of the demo camera (`camera.source = "demo"`): one drawn face acting emotions in
//! turn, so `xpressify demo` and anyone without a camera can run the real
//! pipeline (detector, classifier, mood tracker) without shipping anybody's photograph.
//!
//! The faces are drawn with embedded-graphics (the same drawing the device's screen uses)
//! onto a 640×480 frame, shaded and blurred so that the detector sees a face and the
//! classifier sees the cues it learned from FER2013: brows, eye opening, mouth shape. What the
//! classifier makes of each expression is its own reading; the demo logs it as it comes.

use crate::display::Framebuffer;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Line, PrimitiveStyle, Rectangle, Triangle};
use image::RgbImage;
use xpressify_protocol::Emotion;

/// Frame size, a camera's usual VGA.
pub const WIDTH: u32 = 640;
/// Frame height.
pub const HEIGHT: u32 = 480;

/// The clip's order: the expressions the drawn face makes clearly enough for the model, a
/// change every segment, starting with the friendliest.
pub const SEQUENCE: [Emotion; 5] = [
    Emotion::Happy,
    Emotion::Surprise,
    Emotion::Angry,
    Emotion::Neutral,
    Emotion::Fear,
];

/// How the features sit for one emotion, in pixels of a face 184 wide and 244 high.
#[derive(Debug, Clone, Copy)]
pub struct Expression {
    /// Height of the brow's inner end above the eye's centre (larger: raised).
    pub brow_inner: i32,
    /// Height of the brow's outer end above the eye's centre.
    pub brow_outer: i32,
    /// Half the visible height of each eye.
    pub eye_open: u32,
    /// The mouth's shape.
    pub mouth: Mouth,
}

/// Mouth shapes the drawn face can make.
#[derive(Debug, Clone, Copy)]
pub enum Mouth {
    /// Corners up, lips parted over teeth.
    Grin,
    /// An open oval.
    Open {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// Corners down.
    Frown,
    /// Pressed lips.
    Pressed,
    /// One corner up, upper lip raised.
    Sneer,
    /// A relaxed closed mouth.
    Rest,
}

/// The expression the demo face makes for `emotion`.
pub fn expression(emotion: Emotion) -> Expression {
    use Mouth::*;
    // Chosen by searching these parameters for the shipped model's clearest reading of each
    // emotion (`device/tests/integration/demo_face.rs`). Disgust is never the model's reading however it
    // is drawn and happy only weakly (0.34), so the clip leaves disgust out.
    let (brow_inner, brow_outer, eye_open, mouth) = match emotion {
        Emotion::Happy => (0, 20, 12, Grin),
        Emotion::Surprise => (
            48,
            48,
            6,
            Open {
                width: 31,
                height: 24,
            },
        ),
        Emotion::Fear => (36, 20, 3, Sneer),
        Emotion::Sad => (24, 20, 3, Frown),
        Emotion::Angry => (6, 41, 9, Frown),
        Emotion::Disgust => (9, 46, 12, Sneer),
        Emotion::Neutral => (0, 20, 9, Sneer),
    };
    Expression {
        brow_inner,
        brow_outer,
        eye_open,
        mouth,
    }
}

/// Frame `index` of a segment of `emotion`: the face drifts a few pixels from frame to frame
/// like a person sitting in front of the box, so the detector's face following is exercised.
pub fn frame(emotion: Emotion, index: usize) -> RgbImage {
    frame_with(expression(emotion), index)
}

/// Frame `index` of the face making `expression`.
pub fn frame_with(expression: Expression, index: usize) -> RgbImage {
    let t = index as f32;
    let centre = Point::new(
        (WIDTH / 2) as i32 + (12.0 * (t * 0.21).sin()) as i32,
        (HEIGHT / 2 + 10) as i32 + (6.0 * (t * 0.13).cos()) as i32,
    );
    let mut fb = Framebuffer::new(Size::new(WIDTH, HEIGHT), Rgb888::new(88, 94, 102));
    draw_face(&mut fb, centre, expression);
    image::imageops::blur(&fb.to_rgb_image(), 1.6)
}

fn fill(c: Rgb888) -> PrimitiveStyle<Rgb888> {
    PrimitiveStyle::with_fill(c)
}

fn stroke(c: Rgb888, width: u32) -> PrimitiveStyle<Rgb888> {
    PrimitiveStyle::with_stroke(c, width)
}

/// An ellipse as its centre and full width and height.
type Oval = (Point, u32, u32);

fn inside((centre, w, h): Oval, x: i32, y: i32) -> bool {
    let dx = (x as f32 + 0.5 - centre.x as f32) / (w as f32 / 2.0);
    let dy = (y as f32 + 0.5 - centre.y as f32) / (h as f32 / 2.0);
    dx * dx + dy * dy <= 1.0
}

/// A filled `w × h` ellipse around `centre`. (embedded-graphics' `Ellipse` keeps its
/// squared radii in `u32`, which overflows for shapes as large as a face.)
fn fill_ellipse(fb: &mut Framebuffer<Rgb888>, centre: Point, w: u32, h: u32, color: Rgb888) {
    fill_crescent(fb, (centre, w, h), None, color);
}

/// The part of `oval` outside `cut`: a smile, a frown, lit teeth, without painting skin over
/// the face's shading.
fn fill_crescent(fb: &mut Framebuffer<Rgb888>, oval: Oval, cut: Option<Oval>, color: Rgb888) {
    let (centre, w, h) = oval;
    if w == 0 || h == 0 {
        return;
    }
    let (hw, hh) = ((w / 2 + 1) as i32, (h / 2 + 1) as i32);
    let pixels = (centre.y - hh..=centre.y + hh).flat_map(move |y| {
        (centre.x - hw..=centre.x + hw).filter_map(move |x| {
            (inside(oval, x, y) && !cut.is_some_and(|c| inside(c, x, y)))
                .then_some(Pixel(Point::new(x, y), color))
        })
    });
    let _ = fb.draw_iter(pixels);
}

fn mix(a: Rgb888, b: Rgb888, t: f32) -> Rgb888 {
    let m = |x: u8, y: u8| (f32::from(x) + (f32::from(y) - f32::from(x)) * t).round() as u8;
    Rgb888::new(m(a.r(), b.r()), m(a.g(), b.g()), m(a.b(), b.b()))
}

fn draw_face(fb: &mut Framebuffer<Rgb888>, c: Point, e: Expression) {
    let hair = Rgb888::new(40, 30, 22);
    let skin_dark = Rgb888::new(150, 105, 80);
    let skin_light = Rgb888::new(236, 196, 166);
    let shadow = Rgb888::new(172, 124, 100);
    let (fw, fh) = (184u32, 244u32);
    // Hair behind, neck, then the face shaded from its edge to a light centre a little above
    // the middle, as lit from the front.
    fill_ellipse(fb, c + Point::new(0, -14), fw + 20, fh - 10, hair);
    let _ = Rectangle::new(c + Point::new(-48, 80), Size::new(96, HEIGHT))
        .into_styled(fill(skin_dark))
        .draw(fb);
    let steps = 14;
    for i in 0..steps {
        let k = 1.0 - i as f32 / steps as f32;
        let tone = mix(
            skin_dark,
            skin_light,
            (1.0 - k * k).sqrt().min(1.0) * 0.85 + 0.15,
        );
        fill_ellipse(
            fb,
            c + Point::new(0, -i * 2),
            (fw as f32 * k) as u32,
            (fh as f32 * k) as u32,
            tone,
        );
    }
    // Fringe.
    fill_ellipse(
        fb,
        c + Point::new(0, -(fh as i32) / 2 + 10),
        fw + 14,
        74,
        hair,
    );
    let _ = Rectangle::new(
        c + Point::new(-(fw as i32) / 2 - 8, -(fh as i32) / 2 - 30),
        Size::new(fw + 16, 40),
    )
    .into_styled(fill(Rgb888::new(88, 94, 102)))
    .draw(fb);
    // Eyes: socket shadow, white, iris; brows above, inner end first.
    let eye_y = c.y - 18;
    for side in [-1, 1] {
        let eye = Point::new(c.x + side * 36, eye_y);
        fill_ellipse(fb, eye + Point::new(0, -1), 50, 32, shadow);
        fill_ellipse(fb, eye, 32, 2 * e.eye_open, Rgb888::new(226, 216, 206));
        let iris = (2 * e.eye_open).min(14);
        fill_ellipse(fb, eye, iris, iris, Rgb888::new(55, 40, 30));
        let inner = Point::new(eye.x - side * 6, eye_y - e.brow_inner);
        let outer = Point::new(eye.x + side * 24, eye_y - e.brow_outer);
        let _ = Line::new(inner, outer)
            .into_styled(stroke(Rgb888::new(50, 35, 25), 8))
            .draw(fb);
    }
    // Nose: a lit ridge and the shadow under it.
    let _ = Triangle::new(
        c + Point::new(0, -10),
        c + Point::new(-16, 32),
        c + Point::new(16, 32),
    )
    .into_styled(fill(Rgb888::new(198, 152, 122)))
    .draw(fb);
    fill_ellipse(fb, c + Point::new(0, 32), 32, 12, Rgb888::new(160, 110, 90));
    draw_mouth(fb, c + Point::new(0, 68), e.mouth);
}

fn draw_mouth(fb: &mut Framebuffer<Rgb888>, m: Point, mouth: Mouth) {
    let lip = Rgb888::new(130, 58, 54);
    let dark = Rgb888::new(70, 20, 20);
    let teeth = Rgb888::new(240, 234, 224);
    let shadow = Rgb888::new(172, 124, 100);
    match mouth {
        Mouth::Grin => {
            // Cheek folds, then a crescent: a dark oval with teeth, its top cut by skin.
            for side in [-1, 1] {
                let _ = Line::new(m + Point::new(side * 40, -44), m + Point::new(side * 52, 2))
                    .into_styled(stroke(shadow, 4))
                    .draw(fb);
            }
            let cut = Some((m + Point::new(0, -16), 96, 34));
            fill_crescent(fb, (m + Point::new(0, 2), 88, 50), cut, dark);
            fill_crescent(fb, (m + Point::new(0, -4), 80, 34), cut, teeth);
        }
        Mouth::Open { width, height } => {
            fill_ellipse(fb, m + Point::new(0, 4), width + 8, height + 8, lip);
            fill_ellipse(fb, m + Point::new(0, 4), width, height, dark);
            if width > 2 * height {
                let _ = Rectangle::new(
                    m + Point::new(-(width as i32) / 2 + 6, 4 - height as i32 / 2),
                    Size::new(width - 12, 6),
                )
                .into_styled(fill(teeth))
                .draw(fb);
            }
        }
        Mouth::Frown => {
            let cut = Some((m + Point::new(0, 26), 78, 42));
            fill_crescent(fb, (m + Point::new(0, 18), 70, 40), cut, lip);
        }
        Mouth::Pressed => {
            let _ = Line::new(m + Point::new(-28, 6), m + Point::new(28, 6))
                .into_styled(stroke(lip, 8))
                .draw(fb);
        }
        Mouth::Sneer => {
            let _ = Line::new(m + Point::new(-28, 10), m + Point::new(26, -4))
                .into_styled(stroke(lip, 9))
                .draw(fb);
            for side in [-1, 1] {
                let _ = Line::new(
                    m + Point::new(side * 22, -48),
                    m + Point::new(side * 12, -34),
                )
                .into_styled(stroke(shadow, 4))
                .draw(fb);
            }
        }
        Mouth::Rest => {
            let _ = Line::new(m + Point::new(-26, 4), m + Point::new(26, 4))
                .into_styled(stroke(Rgb888::new(150, 70, 65), 6))
                .draw(fb);
        }
    }
}
