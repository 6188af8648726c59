//! The screen as a PNG file: headless boxes, `xpressify demo`, tests.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::ScreenSink;
use crate::display::{Panel, ScreenState};

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

#[cfg(test)]
mod tests {
    use super::*;

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
