//! An ST7789 TFT on the Pi's SPI bus with DC and reset pins, through `rppal` and `mipidsi`.

use anyhow::Context;
use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use mipidsi::interface::SpiInterface;
use mipidsi::models::ST7789;
use mipidsi::options::ColorInversion;
use rppal::gpio::{Gpio, OutputPin};
use rppal::spi::{Bus, Mode, SimpleHalSpiDevice, SlaveSelect, Spi};

use super::ScreenSink;
use crate::display::thread::DisplayConfig;
use crate::display::{Framebuffer, Panel, ScreenState, Theme, draw_screen};

type Tft =
    mipidsi::Display<SpiInterface<'static, SimpleHalSpiDevice, OutputPin>, ST7789, OutputPin>;

/// A 240×240 or 320×240 ST7789 TFT on the Pi's SPI bus with DC and reset pins. Each screen is
/// drawn in memory and sent in one window write, so the panel never shows half a frame.
pub struct St7789Sink {
    tft: Tft,
    panel: Panel,
    frame: Framebuffer<Rgb565>,
}

impl St7789Sink {
    /// Opens the panel on SPI0 with `display.dc_pin` and `display.rst_pin`.
    pub(super) fn open(config: &DisplayConfig, panel: Panel) -> anyhow::Result<Self> {
        anyhow::ensure!(
            panel != Panel::Ssd1306,
            "display.panel must be st7789-240x240 or st7789-320x240 for display.output = st7789"
        );
        let hint = "on a Pi, enable SPI: raspi-config → Interface Options → SPI";
        let spi = Spi::new(Bus::Spi0, SlaveSelect::Ss0, config.spi_hz, Mode::Mode0)
            .with_context(|| format!("display: cannot open SPI0 ({hint})"))?;
        let gpio = Gpio::new().context("display: no Raspberry Pi GPIO here")?;
        let pin = |n: u8, key: &str| {
            gpio.get(n)
                .map(|p| p.into_output())
                .with_context(|| format!("display.{key} = {n}"))
        };
        let dc = pin(config.dc_pin, "dc_pin")?;
        let rst = pin(config.rst_pin, "rst_pin")?;
        // The interface borrows its buffer for as long as the panel lives: the whole run.
        let buffer: &'static mut [u8] = Box::leak(vec![0u8; 4096].into_boxed_slice());
        let interface = SpiInterface::new(SimpleHalSpiDevice::new(spi), dc, buffer);
        let size = panel.size();
        let tft = mipidsi::Builder::new(ST7789, interface)
            .display_size(size.width as u16, size.height as u16)
            .invert_colors(if config.invert_colors {
                ColorInversion::Inverted
            } else {
                ColorInversion::Normal
            })
            .reset_pin(rst)
            .init(&mut rppal::hal::Delay::new())
            .map_err(|e| anyhow::anyhow!("display: ST7789 did not initialise: {e:?}"))?;
        Ok(St7789Sink {
            tft,
            panel,
            frame: Framebuffer::new(size, Rgb565::BLACK),
        })
    }
}

impl ScreenSink for St7789Sink {
    fn show(&mut self, state: &ScreenState) -> anyhow::Result<()> {
        let Ok(()) = draw_screen(&mut self.frame, self.panel, &Theme::COLOUR, state);
        let size = self.panel.size();
        self.tft
            .set_pixels(
                0,
                0,
                size.width as u16 - 1,
                size.height as u16 - 1,
                self.frame.pixels(),
            )
            .map_err(|e| anyhow::anyhow!("ST7789 write: {e:?}"))
    }
}
