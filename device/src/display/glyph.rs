//! A face per emotion, drawn with primitives only (circles, arcs, lines), so it scales from a
//! 60-pixel monochrome OLED to a 140-pixel colour TFT and stays recognisable in one colour:
//! the mouth, brows and eyes carry the expression, as in the usual emoji.

use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Arc, Circle, Line, Polyline, PrimitiveStyle};
use xpressify_protocol::Emotion;

/// Draws the face for `mood` (or the "nobody here" face for `None`) centred on `centre`,
/// with head radius `r` pixels; `head` colours the outline, `features` the eyes, brows and
/// mouth.
pub fn draw_face<D>(
    target: &mut D,
    mood: Option<Emotion>,
    centre: Point,
    r: i32,
    head: D::Color,
    features: D::Color,
) -> Result<(), D::Error>
where
    D: DrawTarget,
{
    let stroke = (r / 11).max(1) as u32;
    let face = Face {
        c: centre,
        r,
        line: PrimitiveStyle::with_stroke(features, stroke),
        fill: PrimitiveStyle::with_fill(features),
    };
    Circle::with_center(centre, (2 * r) as u32)
        .into_styled(PrimitiveStyle::with_stroke(head, stroke + 1))
        .draw(target)?;
    let Some(mood) = mood else {
        // Nobody in view: closed eyes, no mouth.
        face.line(target, (-45, -15), (-20, -15))?;
        return face.line(target, (20, -15), (45, -15));
    };
    match mood {
        Emotion::Neutral => {
            face.dot_eyes(target, 8)?;
            face.line(target, (-32, 38), (32, 38))
        }
        Emotion::Happy => {
            face.dot_eyes(target, 8)?;
            face.arc(target, (0, 2), 112, 25.0, 130.0)
        }
        Emotion::Sad => {
            face.dot_eyes(target, 7)?;
            face.line(target, (-52, -36), (-22, -46))?;
            face.line(target, (22, -46), (52, -36))?;
            face.arc(target, (0, 88), 96, 210.0, 120.0)
        }
        Emotion::Angry => {
            face.dot_eyes(target, 7)?;
            face.line(target, (-55, -50), (-16, -32))?;
            face.line(target, (16, -32), (55, -50))?;
            face.arc(target, (0, 78), 72, 215.0, 110.0)
        }
        Emotion::Surprise => {
            face.ring_eyes(target, 22)?;
            face.arc(target, (-35, -36), 40, 200.0, 140.0)?;
            face.arc(target, (35, -36), 40, 200.0, 140.0)?;
            face.ring(target, (0, 45), 34)
        }
        Emotion::Fear => {
            face.ring_eyes(target, 20)?;
            face.line(target, (-54, -40), (-20, -52))?;
            face.line(target, (20, -52), (54, -40))?;
            face.zigzag(
                target,
                &[(-38, 48), (-24, 38), (-10, 48), (4, 38), (18, 48), (32, 38)],
            )
        }
        Emotion::Disgust => {
            face.line(target, (-48, -15), (-22, -15))?;
            face.line(target, (22, -15), (48, -15))?;
            face.line(target, (-52, -38), (-20, -30))?;
            face.line(target, (20, -42), (52, -46))?;
            face.zigzag(target, &[(-36, 50), (-12, 36), (12, 46), (36, 30)])
        }
    }
}

/// Feature positions are given in hundredths of the head radius from the centre, so one
/// description serves every size.
struct Face<C: PixelColor> {
    c: Point,
    r: i32,
    line: PrimitiveStyle<C>,
    fill: PrimitiveStyle<C>,
}

impl<C: PixelColor> Face<C> {
    fn at(&self, (x, y): (i32, i32)) -> Point {
        self.c + Point::new(x * self.r / 100, y * self.r / 100)
    }

    fn len(&self, hundredths: i32) -> u32 {
        (hundredths * self.r / 100).max(2) as u32
    }

    fn line<D: DrawTarget<Color = C>>(
        &self,
        t: &mut D,
        a: (i32, i32),
        b: (i32, i32),
    ) -> Result<(), D::Error> {
        Line::new(self.at(a), self.at(b))
            .into_styled(self.line)
            .draw(t)
    }

    fn dot_eyes<D: DrawTarget<Color = C>>(&self, t: &mut D, d: i32) -> Result<(), D::Error> {
        for x in [-34, 34] {
            Circle::with_center(self.at((x, -18)), self.len(2 * d))
                .into_styled(self.fill)
                .draw(t)?;
        }
        Ok(())
    }

    fn ring_eyes<D: DrawTarget<Color = C>>(&self, t: &mut D, d: i32) -> Result<(), D::Error> {
        for x in [-34, 34] {
            self.ring(t, (x, -15), d)?;
        }
        Ok(())
    }

    fn ring<D: DrawTarget<Color = C>>(
        &self,
        t: &mut D,
        centre: (i32, i32),
        d: i32,
    ) -> Result<(), D::Error> {
        Circle::with_center(self.at(centre), self.len(d))
            .into_styled(self.line)
            .draw(t)
    }

    /// An arc of the circle of diameter `d` around `centre`; angles in degrees, clockwise from
    /// three o'clock (so 90° points down).
    fn arc<D: DrawTarget<Color = C>>(
        &self,
        t: &mut D,
        centre: (i32, i32),
        d: i32,
        start: f32,
        sweep: f32,
    ) -> Result<(), D::Error> {
        Arc::with_center(self.at(centre), self.len(d), start.deg(), sweep.deg())
            .into_styled(self.line)
            .draw(t)
    }

    fn zigzag<D: DrawTarget<Color = C>>(
        &self,
        t: &mut D,
        points: &[(i32, i32)],
    ) -> Result<(), D::Error> {
        let points: Vec<Point> = points.iter().map(|&p| self.at(p)).collect();
        Polyline::new(&points).into_styled(self.line).draw(t)
    }
}
