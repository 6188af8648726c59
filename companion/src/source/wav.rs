//! Mono 16-bit PCM WAV encoding: the simplest file every player (mpv, a browser, a TV)
//! accepts, for music made on the box itself rather than downloaded — the demo's synthesised
//! catalogue, and the tones the tests play through the local catalogue.

/// `samples` in [-1, 1] (clamped) at `rate` Hz as the bytes of a WAV file.
pub fn pcm16_mono(samples: &[f32], rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes()); // bytes per second
    bytes.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    bytes.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16;
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

/// A sine of `hz` for `seconds` at `rate`, at half scale: a plain test tone.
pub fn tone(hz: f32, seconds: f32, rate: u32) -> Vec<f32> {
    (0..(rate as f32 * seconds) as u32)
        .map(|i| 0.5 * (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_describes_the_samples() {
        let bytes = pcm16_mono(&[0.0, 1.0, -1.0, 2.0], 16_000);
        assert_eq!(bytes.len(), 44 + 8);
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            44
        );
        assert_eq!(
            u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
            16_000
        );
        assert_eq!(
            u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]),
            8
        );
        let last = i16::from_le_bytes([bytes[50], bytes[51]]);
        assert_eq!(last, i16::MAX, "out-of-range samples are clamped");
    }

    #[test]
    fn a_tone_has_its_length() {
        assert_eq!(tone(440.0, 0.5, 8_000).len(), 4_000);
    }
}
