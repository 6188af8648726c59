//! The box's face: what the attached panel shows — the mood as a large face glyph, its name,
//! confidence and how long it has held, the title playing, and marks for what is broken.
//!
//! Drawing is written once against embedded-graphics' [`DrawTarget`], as embedded-graphics
//! itself teaches, so the same code paints an SSD1306, an ST7789, a PNG file
//! ([`Framebuffer`]) or a desktop window. The drawing knows nothing of a bus or a pin:
//! `panels` puts a drawn screen on hardware (or a file), and `thread` redraws it whenever what
//! it shows changes.
//!
//! [`DrawTarget`]: embedded_graphics::draw_target::DrawTarget

mod framebuffer;
pub mod glyph;
mod layout;
pub mod panels;
mod state;
mod theme;
pub mod thread;

pub use framebuffer::Framebuffer;
pub use layout::{Panel, draw_screen, scroll_period};
pub use state::{ScreenState, StatusMarks};
pub use theme::Theme;
