//! Where the display thread's pictures go: a PNG file (headless boxes, tests), or a real
//! panel on a Raspberry Pi — an SSD1306 OLED on I2C or an ST7789 TFT on SPI, through `rppal`.
//! Opening a panel on a machine without the bus (like a build machine) fails with a message
//! that says what to enable; the device then runs on without a screen.

use crate::display::ScreenState;
use crate::display::thread::{DisplayConfig, DisplayOutput};

mod oled;
mod png;
mod tft;
#[cfg(feature = "simulator")]
mod window;

pub use oled::Ssd1306Sink;
pub use png::PngSink;
pub use tft::St7789Sink;

/// Something that shows a whole screen. Sinks are opened and used on the display thread
/// alone, so they need not be `Send` (an SDL window is not).
pub trait ScreenSink {
    /// Draws `state` and makes it visible.
    fn show(&mut self, state: &ScreenState) -> anyhow::Result<()>;
}

/// Opens what `config.output` names.
pub fn open(config: &DisplayConfig) -> anyhow::Result<Box<dyn ScreenSink>> {
    let panel = config.panel;
    match config.output {
        DisplayOutput::None => anyhow::bail!("display.output = none: there is no display to open"),
        DisplayOutput::Png => Ok(Box::new(PngSink::new(panel, &config.png_path)?)),
        DisplayOutput::Ssd1306 => Ok(Box::new(Ssd1306Sink::open(config)?)),
        DisplayOutput::St7789 => Ok(Box::new(St7789Sink::open(config, panel)?)),
        #[cfg(feature = "simulator")]
        DisplayOutput::Window => {
            // SDL aborts the thread rather than return an error without a desktop session.
            anyhow::ensure!(
                std::env::var_os("DISPLAY").is_some()
                    || std::env::var_os("WAYLAND_DISPLAY").is_some(),
                "display.output = window needs a desktop session (DISPLAY or WAYLAND_DISPLAY)"
            );
            Ok(Box::new(window::WindowSink::open(panel)))
        }
        #[cfg(not(feature = "simulator"))]
        DisplayOutput::Window => anyhow::bail!(
            "display.output = window needs a build with the `simulator` feature \
             (cargo build -p xpressify-device --features simulator; needs libsdl2-dev)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_need_their_bus_and_say_so() {
        // The build machine has neither I2C nor SPI: both fail with a hint, not a panic.
        let config = DisplayConfig {
            output: DisplayOutput::Ssd1306,
            ..DisplayConfig::default()
        };
        if !std::path::Path::new("/dev/i2c-1").exists() {
            let err = open(&config).err().expect("no I2C here");
            assert!(format!("{err:#}").contains("I2C"), "{err:#}");
        }
        let config = DisplayConfig {
            output: DisplayOutput::St7789,
            panel: crate::display::Panel::St7789Square,
            ..DisplayConfig::default()
        };
        if !std::path::Path::new("/dev/spidev0.0").exists() {
            let err = open(&config).err().expect("no SPI here");
            assert!(format!("{err:#}").contains("SPI"), "{err:#}");
        }
    }
}
