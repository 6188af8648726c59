//! A 128×64 SSD1306 OLED on the Pi's I2C bus, through `rppal`.

use anyhow::Context;
use rppal::i2c::I2c;
use ssd1306::mode::BufferedGraphicsMode;
use ssd1306::mode::DisplayConfig as _;
use ssd1306::prelude::*;
use ssd1306::{I2CDisplayInterface, Ssd1306};

use super::ScreenSink;
use crate::display::thread::DisplayConfig;
use crate::display::{Panel, ScreenState, Theme, draw_screen};

type Oled = Ssd1306<I2CInterface<I2c>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

/// A 128×64 SSD1306 OLED on the Pi's I2C bus.
pub struct Ssd1306Sink {
    oled: Oled,
}

impl Ssd1306Sink {
    /// Opens the panel on `display.i2c_bus`.
    pub(super) fn open(config: &DisplayConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.panel == Panel::Ssd1306,
            "display.panel must be ssd1306 for display.output = ssd1306"
        );
        let i2c = I2c::with_bus(config.i2c_bus).with_context(|| {
            format!(
                "display: cannot open I2C bus {} (on a Pi, enable I2C: raspi-config → Interface \
                 Options → I2C)",
                config.i2c_bus
            )
        })?;
        let interface = I2CDisplayInterface::new_custom_address(i2c, config.i2c_address);
        let mut oled = Ssd1306::new(interface, DisplaySize128x64, DisplayRotation::Rotate0)
            .into_buffered_graphics_mode();
        oled.init().map_err(|e| {
            anyhow::anyhow!(
                "display: no SSD1306 answers at I2C address {:#04x} on bus {}: {e:?}",
                config.i2c_address,
                config.i2c_bus
            )
        })?;
        Ok(Ssd1306Sink { oled })
    }
}

impl ScreenSink for Ssd1306Sink {
    fn show(&mut self, state: &ScreenState) -> anyhow::Result<()> {
        draw_screen(&mut self.oled, Panel::Ssd1306, &Theme::MONO, state)
            .map_err(|e| anyhow::anyhow!("SSD1306: {e:?}"))?;
        self.oled
            .flush()
            .map_err(|e| anyhow::anyhow!("SSD1306 flush: {e:?}"))
    }
}
