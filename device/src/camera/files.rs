//! Images from disk played like a camera (`camera.source = "files"`): for tests, benchmarks
//! and people trying the device without a camera.

use std::path::{Path, PathBuf};

use super::{Frame, FrameSource, Pacer, SourceError};

/// Images from disk played like a camera: one file, every PNG/JPEG of a folder (sorted by
/// name), or a glob pattern (`frames/*.jpg`), at a fixed rate, once or looping.
pub struct FileSource {
    files: Vec<PathBuf>,
    pacer: Pacer,
    looping: bool,
    next: usize,
    produced: u64,
    spec: String,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

impl FileSource {
    /// Resolves `spec` to a list of images; `fps` of 0 means "as fast as they are read".
    pub fn open(spec: &str, fps: f32, looping: bool) -> Result<Self, SourceError> {
        let path = Path::new(spec);
        let mut files: Vec<PathBuf> = if path.is_dir() {
            std::fs::read_dir(path)
                .map_err(|e| SourceError::Image {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_image(p))
                .collect()
        } else if spec.contains(['*', '?', '[']) {
            glob::glob(spec)
                .map_err(|e| SourceError::Pattern {
                    pattern: spec.to_string(),
                    message: e.to_string(),
                })?
                .filter_map(Result::ok)
                .filter(|p| is_image(p))
                .collect()
        } else if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        };
        files.sort();
        if files.is_empty() {
            return Err(SourceError::NoImages(spec.to_string()));
        }
        Ok(FileSource {
            files,
            pacer: Pacer::new(fps),
            looping,
            next: 0,
            produced: 0,
            spec: spec.to_string(),
        })
    }

    /// The images, in playing order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl FrameSource for FileSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.next == self.files.len() {
            if !self.looping {
                return Ok(None);
            }
            self.next = 0;
        }
        self.pacer.wait();
        let path = &self.files[self.next];
        self.next += 1;
        let image = image::open(path)
            .map_err(|e| SourceError::Image {
                path: path.clone(),
                message: e.to_string(),
            })?
            .to_rgb8();
        let frame = Frame::now(self.produced, image);
        self.produced += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        format!(
            "{} image(s) from {} at {}{}",
            self.files.len(),
            self.spec,
            self.pacer.describe(),
            if self.looping { ", looping" } else { ", once" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;
    use std::time::{Duration, Instant};

    fn write_images(dir: &Path, names: &[&str]) {
        for n in names {
            RgbImage::from_pixel(8, 8, image::Rgb([10, 20, 30]))
                .save(dir.join(n))
                .expect("write png");
        }
    }

    #[test]
    fn plays_a_folder_in_order_once_or_looping() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_images(dir.path(), &["b.png", "a.png"]);
        std::fs::write(dir.path().join("notes.txt"), "not an image").expect("write");
        let spec = dir.path().to_string_lossy().to_string();
        let mut once = FileSource::open(&spec, 0.0, false).expect("opens");
        assert_eq!(once.files().len(), 2);
        assert!(once.files()[0].ends_with("a.png"));
        assert!(once.next_frame().expect("frame").is_some());
        assert!(once.next_frame().expect("frame").is_some());
        assert!(once.next_frame().expect("end").is_none());
        let mut looping = FileSource::open(&spec, 0.0, true).expect("opens");
        let indices: Vec<u64> = (0..5)
            .map(|_| looping.next_frame().expect("ok").expect("frame").index)
            .collect();
        assert_eq!(indices, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn globs_single_files_and_pacing() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_images(dir.path(), &["x1.png", "x2.png", "y.png"]);
        let pattern = format!("{}/x*.png", dir.path().display());
        let mut s = FileSource::open(&pattern, 20.0, false).expect("opens");
        assert_eq!(s.files().len(), 2);
        let start = Instant::now();
        while s.next_frame().expect("ok").is_some() {}
        assert!(
            start.elapsed() >= Duration::from_millis(45),
            "20 fps paces frames"
        );
        let single = dir.path().join("y.png");
        assert!(FileSource::open(&single.to_string_lossy(), 0.0, false).is_ok());
    }

    #[test]
    fn bad_input_gives_clear_errors_and_the_source_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            FileSource::open(&dir.path().to_string_lossy(), 0.0, false),
            Err(SourceError::NoImages(_))
        ));
        std::fs::write(dir.path().join("a.png"), b"not a png").expect("write");
        write_images(dir.path(), &["b.png"]);
        let mut s = FileSource::open(&dir.path().to_string_lossy(), 0.0, false).expect("opens");
        let err = s.next_frame().err().expect("corrupt image is an error");
        assert!(err.to_string().contains("a.png"), "{err}");
        assert!(s.next_frame().expect("next file is fine").is_some());
    }
}
