//! The screen in a desktop window, for working on layouts without a Pi (feature `simulator`).
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics_simulator::{
    OutputSettingsBuilder, SimulatorDisplay, SimulatorEvent, Window,
};

use super::ScreenSink;
use crate::display::{Panel, ScreenState};

/// An SDL window showing the panel at three times its size.
pub struct WindowSink {
    panel: Panel,
    display: SimulatorDisplay<Rgb888>,
    window: Window,
}

impl WindowSink {
    /// Opens the window (titled after the panel).
    pub fn open(panel: Panel) -> Self {
        let settings = OutputSettingsBuilder::new().scale(3).build();
        WindowSink {
            panel,
            display: SimulatorDisplay::new(panel.size()),
            window: Window::new(&format!("Xpressify — {panel}"), &settings),
        }
    }
}

impl ScreenSink for WindowSink {
    fn show(&mut self, state: &ScreenState) -> anyhow::Result<()> {
        let picture = self.panel.render(state);
        let pixels = picture.enumerate_pixels().map(|(x, y, p)| {
            Pixel(
                Point::new(x as i32, y as i32),
                Rgb888::new(p.0[0], p.0[1], p.0[2]),
            )
        });
        let Ok(()) = self.display.draw_iter(pixels);
        self.window.update(&self.display);
        anyhow::ensure!(
            !self.window.events().any(|e| e == SimulatorEvent::Quit),
            "the window was closed"
        );
        Ok(())
    }
}
