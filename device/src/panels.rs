//! Where the display thread's pictures go: a PNG file (headless boxes, tests), or a real
//! panel on a Raspberry Pi — an SSD1306 OLED on I2C or an ST7789 TFT on SPI, through `rppal`.
//! Opening a panel on a machine without the bus (like a build machine) fails with a message
//! that says what to enable; the device then runs on without a screen.

use std::path::{Path, PathBuf};

use anyhow::Context;
use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use mipidsi::interface::SpiInterface;
use mipidsi::models::ST7789;
use mipidsi::options::ColorInversion;
use rppal::gpio::{Gpio, OutputPin};
use rppal::i2c::I2c;
use rppal::spi::{Bus, Mode, SimpleHalSpiDevice, SlaveSelect, Spi};
use ssd1306::mode::BufferedGraphicsMode;
// Its `init` (our own `DisplayConfig` shadows the prelude's glob import of the trait).
use ssd1306::mode::DisplayConfig as _;
use ssd1306::prelude::*;
use ssd1306::{I2CDisplayInterface, Ssd1306};

use crate::display::{Framebuffer, Panel, ScreenState, Theme, draw_screen};
use crate::screen::{DisplayConfig, DisplayOutput};

/// Something that shows a whole screen. Sinks are opened and used on the display thread
/// alone, so they need not be `Send` (an SDL window is not).
pub trait ScreenSink {
    /// Draws `state` and makes it visible.
    fn show(&mut self, state: &ScreenState) -> anyhow::Result<()>;
}

/// Opens what `config.output` names.
pub fn open(config: &DisplayConfig) -> anyhow::Result<Box<dyn ScreenSink>> {
    let panel = config
        .layout()
        .map_err(|e| anyhow::anyhow!("display.panel: {e}"))?;
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

/// The screen as a PNG file, replaced atomically so a reader never sees half a picture.
pub struct PngSink {
    panel: Panel,
    path: PathBuf,
}

impl PngSink {
    /// Prepares `path` (creating its folder).
    pub fn new(panel: Panel, path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("display.png_path: creating {}", dir.display()))?;
        }
        Ok(PngSink {
            panel,
            path: path.to_path_buf(),
        })
    }
}

impl ScreenSink for PngSink {
    fn show(&mut self, state: &ScreenState) -> anyhow::Result<()> {
        let tmp = self.path.with_extension("png.tmp");
        self.panel
            .render(state)
            .save_with_format(&tmp, image::ImageFormat::Png)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("renaming to {}", self.path.display()))
    }
}

type Oled = Ssd1306<I2CInterface<I2c>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

/// A 128×64 SSD1306 OLED on the Pi's I2C bus.
pub struct Ssd1306Sink {
    oled: Oled,
}

impl Ssd1306Sink {
    fn open(config: &DisplayConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.panel == Panel::Ssd1306.name(),
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
    fn open(config: &DisplayConfig, panel: Panel) -> anyhow::Result<Self> {
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

/// The screen in a desktop window, for working on layouts without a Pi.
#[cfg(feature = "simulator")]
mod window {
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
        if !Path::new("/dev/i2c-1").exists() {
            let err = open(&config).err().expect("no I2C here");
            assert!(format!("{err:#}").contains("I2C"), "{err:#}");
        }
        let config = DisplayConfig {
            output: DisplayOutput::St7789,
            panel: "st7789-240x240".into(),
            ..DisplayConfig::default()
        };
        if !Path::new("/dev/spidev0.0").exists() {
            let err = open(&config).err().expect("no SPI here");
            assert!(format!("{err:#}").contains("SPI"), "{err:#}");
        }
    }

    #[test]
    fn png_sink_writes_the_panel_picture() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/screen.png");
        let mut sink = PngSink::new(Panel::St7789Square, &path).expect("sink");
        let state = ScreenState::default();
        sink.show(&state).expect("written");
        let img = image::open(&path).expect("png").to_rgb8();
        assert!(img == Panel::St7789Square.render(&state));
    }
}
