//! Reads FER2013 in the shared compact format (`fer2013.u8.gz`): the faces the model is
//! evaluated on, and the raw material of the device's camera-like test frames.
//!
//! Format: gzip of 35,887 records of 2306 bytes — emotion (0..6), usage (0 Training,
//! 1 PublicTest, 2 PrivateTest), then 48×48 pixels row-major.

use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;
use xpressify_protocol::Emotion;

use crate::vision::classify::{FACE_PIXELS, FaceCrop};

const RECORD: usize = 2 + FACE_PIXELS;

/// The official FER2013 splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// 28,709 faces to train on.
    Training,
    /// 3,589 faces to choose checkpoints on.
    PublicTest,
    /// 3,589 faces to report on.
    PrivateTest,
}

impl Split {
    fn code(self) -> u8 {
        match self {
            Split::Training => 0,
            Split::PublicTest => 1,
            Split::PrivateTest => 2,
        }
    }
}

/// One labelled face.
#[derive(Clone)]
pub struct Sample {
    /// The label.
    pub emotion: Emotion,
    /// The pixels.
    pub face: FaceCrop,
}

/// Why the data could not be read.
#[derive(Debug, Error)]
pub enum DataError {
    /// Missing or unreadable file, or a truncated gzip stream.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The data file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record with an impossible label or usage.
    #[error("{path}: record {index} is corrupt ({what})")]
    Corrupt {
        /// The data file.
        path: PathBuf,
        /// 0-based record number.
        index: usize,
        /// What was wrong.
        what: String,
    },
}

/// The default location: `$XPRESSIFY_DATA_DIR/fer2013/fer2013.u8.gz`, else the first
/// `shared/data/fer2013/fer2013.u8.gz` in the current folder or a folder above it (so a
/// checkout, or any folder inside it, finds the checkout's `../shared`), else
/// `../shared/data/…`, for the error to name. Looked up at run time: no path of the build
/// machine is compiled into the binary.
pub fn default_path() -> PathBuf {
    let file = Path::new("fer2013").join("fer2013.u8.gz");
    if let Some(dir) = std::env::var_os("XPRESSIFY_DATA_DIR") {
        return PathBuf::from(dir).join(file);
    }
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let beside = |dir: &Path| dir.join("shared").join("data").join(&file);
    here.ancestors()
        .map(beside)
        .find(|path| path.is_file())
        .unwrap_or_else(|| beside(here.parent().unwrap_or(&here)))
}

/// The variable that makes a missing data set fail the tests that need it instead of skipping
/// them: CI sets `XPRESSIFY_REQUIRE_DATA=1`, so there every data test runs.
pub const REQUIRE_DATA_VAR: &str = "XPRESSIFY_REQUIRE_DATA";

/// For the tests that read FER2013: its path when the file is there. When it is not (a
/// person's clone, without `../shared`), writes one line to the terminal naming the skipped
/// `test` and returns `None`; with `XPRESSIFY_REQUIRE_DATA=1` it panics instead, naming the
/// file, so a CI run without the data fails.
pub fn path_for_test(test: &str) -> Option<PathBuf> {
    let path = default_path();
    if path.is_file() {
        return Some(path);
    }
    let required = std::env::var(REQUIRE_DATA_VAR).is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: FER2013 is required ({REQUIRE_DATA_VAR}=1) but {} is missing",
        path.display()
    );
    // Straight to the terminal: cargo test hides what a passing test prints through eprintln!.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: no FER2013 at {} (set XPRESSIFY_DATA_DIR to run it)",
        path.display()
    );
    None
}

/// All faces of `split`, in file order.
pub fn load(path: &Path, split: Split) -> Result<Vec<Sample>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    let mut record = [0u8; RECORD];
    let mut out = Vec::new();
    for index in 0.. {
        if !read_record(&mut reader, &mut record).map_err(io)? {
            break;
        }
        let corrupt = |what: String| DataError::Corrupt {
            path: path.to_path_buf(),
            index,
            what,
        };
        let emotion = Emotion::from_index(record[0].into())
            .ok_or_else(|| corrupt(format!("label {}", record[0])))?;
        if record[1] > 2 {
            return Err(corrupt(format!("usage {}", record[1])));
        }
        if record[1] == split.code() {
            let mut face = [0u8; FACE_PIXELS];
            face.copy_from_slice(&record[2..]);
            out.push(Sample { emotion, face });
        }
    }
    Ok(out)
}

/// Fills `buf`; false at a clean end of file, an error on a partial record.
fn read_record(reader: &mut impl Read, buf: &mut [u8; RECORD]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < RECORD {
        match reader.read(&mut buf[filled..])? {
            0 if filled == 0 => return Ok(false),
            0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("truncated record ({filled} of {RECORD} bytes)"),
                ));
            }
            n => filled += n,
        }
    }
    Ok(true)
}
