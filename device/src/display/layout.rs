//! Where things go on each supported panel, and the one function that draws a screen.

use std::fmt;
use std::str::FromStr;

use embedded_graphics::mono_font::ascii::{
    FONT_4X6, FONT_6X10, FONT_7X13_BOLD, FONT_8X13, FONT_10X20,
};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, Line, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::framebuffer::Framebuffer;
use super::glyph::draw_face;
use super::state::ScreenState;
use super::theme::Theme;

/// The panels the box supports, by the name used in the config and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Panel {
    /// 128×64 monochrome OLED (SSD1306, I2C).
    #[serde(rename = "ssd1306")]
    Ssd1306,
    /// 240×240 colour TFT (ST7789, SPI).
    #[serde(rename = "st7789-240x240")]
    St7789Square,
    /// 320×240 colour TFT (ST7789, SPI).
    #[serde(rename = "st7789-320x240")]
    St7789Wide,
}

impl Panel {
    /// Every layout, for tests and docs.
    pub const ALL: [Panel; 3] = [Panel::Ssd1306, Panel::St7789Square, Panel::St7789Wide];

    /// The config name: `ssd1306`, `st7789-240x240`, `st7789-320x240`.
    pub fn name(self) -> &'static str {
        match self {
            Panel::Ssd1306 => "ssd1306",
            Panel::St7789Square => "st7789-240x240",
            Panel::St7789Wide => "st7789-320x240",
        }
    }

    /// Pixels across and down.
    pub fn size(self) -> Size {
        match self {
            Panel::Ssd1306 => Size::new(128, 64),
            Panel::St7789Square => Size::new(240, 240),
            Panel::St7789Wide => Size::new(320, 240),
        }
    }

    /// Draws `state` as this panel shows it, into an RGB image (the PNG backend, `render`).
    pub fn render(self, state: &ScreenState) -> RgbImage {
        match self {
            Panel::Ssd1306 => {
                let mut fb = Framebuffer::new(self.size(), BinaryColor::Off);
                let Ok(()) = draw_screen(&mut fb, self, &Theme::MONO, state);
                fb.to_rgb_image()
            }
            Panel::St7789Square | Panel::St7789Wide => {
                let mut fb = Framebuffer::new(self.size(), Rgb565::BLACK);
                let Ok(()) = draw_screen(&mut fb, self, &Theme::COLOUR, state);
                fb.to_rgb_image()
            }
        }
    }

    fn geometry(self) -> Geometry {
        match self {
            Panel::Ssd1306 => Geometry {
                face: (Point::new(30, 26), 23),
                name: Point::new(96, 1),
                name_font: &FONT_7X13_BOLD,
                bar: Rectangle::new(Point::new(66, 17), Size::new(60, 7)),
                info: Point::new(96, 27),
                info_font: &FONT_6X10,
                marks: Point::new(64, 40),
                marks_font: &FONT_4X6,
                title: Rectangle::new(Point::new(0, 53), Size::new(128, 11)),
                title_font: &FONT_6X10,
            },
            Panel::St7789Square => Geometry {
                face: (Point::new(120, 84), 60),
                name: Point::new(120, 152),
                name_font: &FONT_10X20,
                bar: Rectangle::new(Point::new(30, 178), Size::new(180, 10)),
                info: Point::new(120, 193),
                info_font: &FONT_8X13,
                marks: Point::new(4, 4),
                marks_font: &FONT_6X10,
                title: Rectangle::new(Point::new(0, 216), Size::new(240, 20)),
                title_font: &FONT_8X13,
            },
            Panel::St7789Wide => Geometry {
                face: (Point::new(82, 112), 66),
                name: Point::new(240, 60),
                name_font: &FONT_10X20,
                bar: Rectangle::new(Point::new(170, 88), Size::new(140, 12)),
                info: Point::new(240, 108),
                info_font: &FONT_8X13,
                marks: Point::new(4, 4),
                marks_font: &FONT_6X10,
                title: Rectangle::new(Point::new(0, 212), Size::new(320, 24)),
                title_font: &FONT_8X13,
            },
        }
    }
}

impl fmt::Display for Panel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Panel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Panel::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Panel::ALL.iter().map(|p| p.name()).collect();
                format!("unknown panel {s:?}: use one of {}", names.join(", "))
            })
    }
}

/// One panel's arrangement: centres and top-lefts in pixels.
struct Geometry {
    face: (Point, i32),
    name: Point,
    name_font: &'static MonoFont<'static>,
    bar: Rectangle,
    info: Point,
    info_font: &'static MonoFont<'static>,
    marks: Point,
    marks_font: &'static MonoFont<'static>,
    title: Rectangle,
    title_font: &'static MonoFont<'static>,
}

/// Gap between the end of a scrolling title and its next start, in pixels.
const SCROLL_GAP: u32 = 24;

/// Draws the whole screen for `state` on `target`, laid out for `panel`.
pub fn draw_screen<D>(
    target: &mut D,
    panel: Panel,
    theme: &Theme<D::Color>,
    state: &ScreenState,
) -> Result<(), D::Error>
where
    D: DrawTarget,
{
    let g = panel.geometry();
    target.clear(theme.background)?;
    let head = state.mood.map_or(theme.dim, |m| theme.accent(m));
    let (centre, r) = g.face;
    draw_face(target, state.mood, centre, r, head, theme.foreground)?;

    let centred = TextStyleBuilder::new()
        .alignment(Alignment::Center)
        .baseline(Baseline::Top)
        .build();
    match state.mood {
        Some(mood) => {
            let name = mood.as_str().to_uppercase();
            let style = MonoTextStyle::new(g.name_font, theme.foreground);
            Text::with_text_style(&name, g.name, style, centred).draw(target)?;
            g.bar
                .into_styled(PrimitiveStyle::with_stroke(theme.dim, 1))
                .draw(target)?;
            let inner = g.bar.size.width.saturating_sub(2);
            let filled = inner * state.percent() / 100;
            if filled > 0 {
                Rectangle::new(
                    g.bar.top_left + Point::new(1, 1),
                    Size::new(filled, g.bar.size.height.saturating_sub(2)),
                )
                .into_styled(PrimitiveStyle::with_fill(theme.accent(mood)))
                .draw(target)?;
            }
            let info = format!("{}% {}", state.percent(), state.held_text());
            let style = MonoTextStyle::new(g.info_font, theme.foreground);
            Text::with_text_style(&info, g.info, style, centred).draw(target)?;
        }
        None => {
            let style = MonoTextStyle::new(g.name_font, theme.dim);
            let words = if state.marks.camera_off {
                "CAM OFF"
            } else {
                "NO FACE"
            };
            Text::with_text_style(words, g.name, style, centred).draw(target)?;
        }
    }
    draw_marks(target, &g, theme, state)?;
    draw_title(target, &g, theme, state)
}

/// The active problems as small inverse tags, left to right.
fn draw_marks<D: DrawTarget>(
    target: &mut D,
    g: &Geometry,
    theme: &Theme<D::Color>,
    state: &ScreenState,
) -> Result<(), D::Error> {
    let font = g.marks_font;
    let mut x = g.marks.x;
    for (on, label) in [
        (state.marks.no_camera, "CAM"),
        (state.marks.broker_offline, "MQTT"),
        (state.marks.companion_offline, "MUSIC"),
    ] {
        if !on {
            continue;
        }
        let text_w = font.character_size.width * label.len() as u32;
        let tag = Rectangle::new(
            Point::new(x, g.marks.y),
            Size::new(text_w + 3, font.character_size.height + 2),
        );
        tag.into_styled(PrimitiveStyle::with_fill(theme.alert))
            .draw(target)?;
        // A diagonal stroke through the tag reads as "not working" without words.
        Line::new(
            tag.top_left + Point::new(0, tag.size.height as i32 - 1),
            tag.top_left + Point::new(tag.size.width as i32 - 1, 0),
        )
        .into_styled(PrimitiveStyle::with_stroke(theme.background, 1))
        .draw(target)?;
        Text::with_baseline(
            label,
            tag.top_left + Point::new(2, 1),
            MonoTextStyle::new(font, theme.background),
            Baseline::Top,
        )
        .draw(target)?;
        x += tag.size.width as i32 + 2;
    }
    Ok(())
}

/// A note sign and the title, scrolled by `state.scroll_px` when it does not fit.
fn draw_title<D: DrawTarget>(
    target: &mut D,
    g: &Geometry,
    theme: &Theme<D::Color>,
    state: &ScreenState,
) -> Result<(), D::Error> {
    let area = g.title;
    let h = area.size.height as i32;
    let note = (h / 3).max(4);
    let head = area.top_left + Point::new(2 + note / 2, h - 2 - note / 2);
    Circle::with_center(head, note as u32)
        .into_styled(PrimitiveStyle::with_fill(theme.foreground))
        .draw(target)?;
    let stem_x = head.x + note / 2 - 1;
    Line::new(
        Point::new(stem_x, head.y),
        Point::new(stem_x, area.top_left.y + 1),
    )
    .into_styled(PrimitiveStyle::with_stroke(theme.foreground, 1))
    .draw(target)?;

    let text_area = title_text_area(g);
    let (text, colour) = match &state.now_playing {
        Some(title) => (title.as_str(), theme.foreground),
        None => ("nothing playing", theme.dim),
    };
    let font = g.title_font;
    let style = MonoTextStyle::new(font, colour);
    let width = text_width(font, text);
    let y = text_area.top_left.y + (h - font.character_size.height as i32) / 2;
    let mut clipped = target.clipped(&text_area);
    if width <= text_area.size.width {
        Text::with_baseline(
            text,
            Point::new(text_area.top_left.x, y),
            style,
            Baseline::Top,
        )
        .draw(&mut clipped)?;
        return Ok(());
    }
    let period = width + SCROLL_GAP;
    let x0 = text_area.top_left.x - (state.scroll_px % period) as i32;
    for x in [x0, x0 + period as i32] {
        Text::with_baseline(text, Point::new(x, y), style, Baseline::Top).draw(&mut clipped)?;
    }
    Ok(())
}

/// Pixels a title must scroll before it repeats on `panel` (0 when it fits): the caller's
/// timer wraps its counter with this so it never overflows.
pub fn scroll_period(panel: Panel, title: &str) -> u32 {
    let g = panel.geometry();
    let width = text_width(g.title_font, title);
    if width <= title_text_area(&g).size.width {
        0
    } else {
        width + SCROLL_GAP
    }
}

/// The title line minus the note sign at its left.
fn title_text_area(g: &Geometry) -> Rectangle {
    let area = g.title;
    let note = (area.size.height as i32 / 3).max(4);
    let left = 2 + note + 4;
    Rectangle::new(
        area.top_left + Point::new(left, 0),
        Size::new(
            area.size.width.saturating_sub(left as u32),
            area.size.height,
        ),
    )
}

fn text_width(font: &MonoFont<'_>, text: &str) -> u32 {
    (font.character_size.width + font.character_spacing) * text.chars().count() as u32
}
