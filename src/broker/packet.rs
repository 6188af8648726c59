//! Just enough of MQTT 3.1.1 (OASIS standard, section 2 and 3) for the gate: cutting a byte
//! stream into packets (fixed header, remaining length), reading and re-writing CONNECT, the
//! topic and id of a PUBLISH, and the four-byte acknowledgements. Everything else passes
//! through as bytes.

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Control packet types (the fixed header's high nibble).
pub mod kind {
    /// CONNECT.
    pub const CONNECT: u8 = 1;
    /// PUBLISH.
    pub const PUBLISH: u8 = 3;
    /// PUBACK.
    pub const PUBACK: u8 = 4;
    /// PUBREC.
    pub const PUBREC: u8 = 5;
    /// PUBREL.
    pub const PUBREL: u8 = 6;
    /// PUBCOMP.
    pub const PUBCOMP: u8 = 7;
}

/// A packet that is not what MQTT 3.1.1 allows.
#[derive(Debug, Error)]
pub enum PacketError {
    /// The connection failed or ended inside a packet.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// More than the limit was announced.
    #[error("a packet of {0} bytes is over the limit")]
    TooBig(usize),
    /// The bytes do not parse.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
}

/// One control packet: the fixed header's first byte and the rest (variable header and
/// payload).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Type (high nibble) and flags (low nibble).
    pub first: u8,
    /// The remaining bytes.
    pub body: Vec<u8>,
}

impl Frame {
    /// The packet type ([`kind`]).
    pub fn kind(&self) -> u8 {
        self.first >> 4
    }

    /// The packet as it goes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 5);
        out.push(self.first);
        let mut len = self.body.len();
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            out.push(byte);
            if len == 0 {
                break;
            }
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// An acknowledgement (`PUBACK`, `PUBREC`, `PUBREL`, `PUBCOMP`) of packet `id`.
    pub fn ack(kind: u8, id: u16) -> Frame {
        let flags = if kind == kind::PUBREL { 0x02 } else { 0 };
        Frame {
            first: (kind << 4) | flags,
            body: id.to_be_bytes().to_vec(),
        }
    }

    /// The packet id of an acknowledgement.
    pub fn ack_id(&self) -> Option<u16> {
        (self.body.len() >= 2).then(|| u16::from_be_bytes([self.body[0], self.body[1]]))
    }
}

/// Reads one packet of at most `max` remaining bytes; `None` at a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Frame>, PacketError> {
    let mut first = [0u8; 1];
    if reader.read(&mut first).await? == 0 {
        return Ok(None);
    }
    let mut len = 0usize;
    for shift in [0, 7, 14, 21] {
        let byte = reader.read_u8().await?;
        len |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            if len > max {
                return Err(PacketError::TooBig(len));
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).await?;
            return Ok(Some(Frame {
                first: first[0],
                body,
            }));
        }
    }
    Err(PacketError::Malformed(
        "remaining length longer than 4 bytes",
    ))
}

/// Reads a length-prefixed field from `body` at `*at`.
fn field<'a>(body: &'a [u8], at: &mut usize) -> Result<&'a [u8], PacketError> {
    let len_bytes = body
        .get(*at..*at + 2)
        .ok_or(PacketError::Malformed("a field is cut short"))?;
    let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    let value = body
        .get(*at + 2..*at + 2 + len)
        .ok_or(PacketError::Malformed("a field is cut short"))?;
    *at += 2 + len;
    Ok(value)
}

fn text(bytes: &[u8]) -> Result<String, PacketError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| PacketError::Malformed("text is not UTF-8"))
}

fn put_field(out: &mut Vec<u8>, value: &[u8]) {
    // Fields come from a parsed packet or the box's own settings: each fits in 64 KiB.
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&value[..usize::from(len)]);
}

/// A will message of a CONNECT.
#[derive(Debug, Clone, PartialEq)]
pub struct Will {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// QoS (0–2) and retain, as in the connect flags.
    pub qos: u8,
    /// Retained.
    pub retain: bool,
}

/// A CONNECT packet (MQTT 3.1.1, section 3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Connect {
    /// 4 for MQTT 3.1.1.
    pub level: u8,
    /// Start a clean session.
    pub clean_session: bool,
    /// Keep-alive in seconds.
    pub keep_alive: u16,
    /// The client's id.
    pub client_id: String,
    /// The will, if any.
    pub will: Option<Will>,
    /// User name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<Vec<u8>>,
}

impl Connect {
    /// Parses the body of a CONNECT.
    pub fn parse(body: &[u8]) -> Result<Connect, PacketError> {
        let mut at = 0;
        let name = field(body, &mut at)?;
        if name != b"MQTT" && name != b"MQIsdp" {
            return Err(PacketError::Malformed("not an MQTT protocol name"));
        }
        let header = body
            .get(at..at + 4)
            .ok_or(PacketError::Malformed("CONNECT is cut short"))?;
        let (level, flags) = (header[0], header[1]);
        let keep_alive = u16::from_be_bytes([header[2], header[3]]);
        at += 4;
        let client_id = text(field(body, &mut at)?)?;
        let will = if flags & 0x04 != 0 {
            let topic = text(field(body, &mut at)?)?;
            let payload = field(body, &mut at)?.to_vec();
            Some(Will {
                topic,
                payload,
                qos: (flags >> 3) & 0x03,
                retain: flags & 0x20 != 0,
            })
        } else {
            None
        };
        let username = if flags & 0x80 != 0 {
            Some(text(field(body, &mut at)?)?)
        } else {
            None
        };
        let password = if flags & 0x40 != 0 {
            Some(field(body, &mut at)?.to_vec())
        } else {
            None
        };
        Ok(Connect {
            level,
            clean_session: flags & 0x02 != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
        })
    }

    /// The packet as it goes on the wire.
    pub fn encode(&self) -> Frame {
        let mut flags = 0u8;
        if self.clean_session {
            flags |= 0x02;
        }
        if let Some(w) = &self.will {
            flags |= 0x04 | (w.qos & 0x03) << 3;
            if w.retain {
                flags |= 0x20;
            }
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        let mut body = Vec::new();
        put_field(&mut body, b"MQTT");
        body.extend_from_slice(&[self.level, flags]);
        body.extend_from_slice(&self.keep_alive.to_be_bytes());
        put_field(&mut body, self.client_id.as_bytes());
        if let Some(w) = &self.will {
            put_field(&mut body, w.topic.as_bytes());
            put_field(&mut body, &w.payload);
        }
        if let Some(u) = &self.username {
            put_field(&mut body, u.as_bytes());
        }
        if let Some(p) = &self.password {
            put_field(&mut body, p);
        }
        Frame {
            first: kind::CONNECT << 4,
            body,
        }
    }
}

/// CONNACK with `code` (0 accepted, 1 bad protocol level, 4 bad user name or password, 5 not
/// authorised).
pub fn connack(code: u8) -> Frame {
    Frame {
        first: 0x20,
        body: vec![0, code],
    }
}

/// The topic, QoS and packet id (QoS 1 and 2) of a PUBLISH.
pub fn publish_header(frame: &Frame) -> Result<(String, u8, Option<u16>), PacketError> {
    let mut at = 0;
    let topic = text(field(&frame.body, &mut at)?)?;
    let qos = (frame.first >> 1) & 0x03;
    let id = if qos > 0 {
        let id = frame
            .body
            .get(at..at + 2)
            .ok_or(PacketError::Malformed("PUBLISH without its packet id"))?;
        Some(u16::from_be_bytes([id[0], id[1]]))
    } else {
        None
    };
    Ok((topic, qos, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_with_long_lengths() {
        for len in [0, 1, 127, 128, 16_383, 16_384, 300_000] {
            let frame = Frame {
                first: 0x32,
                body: vec![7; len],
            };
            let bytes = frame.encode();
            let read = read_frame(&mut bytes.as_slice(), 1 << 20)
                .await
                .expect("reads")
                .expect("a frame");
            assert_eq!(read, frame, "{len}");
        }
        let big = Frame {
            first: 0x30,
            body: vec![0; 2000],
        }
        .encode();
        assert!(matches!(
            read_frame(&mut big.as_slice(), 1000).await,
            Err(PacketError::TooBig(2000))
        ));
        assert!(read_frame(&mut &[][..], 10).await.expect("eof").is_none());
        assert!(
            read_frame(&mut &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01][..], 10)
                .await
                .is_err()
        );
    }

    #[test]
    fn connect_parses_and_rewrites() {
        let connect = Connect {
            level: 4,
            clean_session: true,
            keep_alive: 30,
            client_id: "kitchen-1".into(),
            will: Some(Will {
                topic: "xpressify/kitchen/availability".into(),
                payload: b"offline".to_vec(),
                qos: 1,
                retain: true,
            }),
            username: Some("kitchen".into()),
            password: Some(b"pw".to_vec()),
        };
        let frame = connect.encode();
        assert_eq!(frame.kind(), kind::CONNECT);
        assert_eq!(Connect::parse(&frame.body).expect("parses"), connect);
        assert!(Connect::parse(&frame.body[..frame.body.len() - 1]).is_err());
        assert!(Connect::parse(b"\x00\x04HTTP\x04\x02\x00\x1e\x00\x00").is_err());
    }

    #[test]
    fn publish_headers_and_acks() {
        let mut body = Vec::new();
        put_field(&mut body, b"a/b");
        body.extend_from_slice(&[0x12, 0x34]);
        body.extend_from_slice(b"payload");
        let frame = Frame { first: 0x32, body };
        assert_eq!(
            publish_header(&frame).expect("parses"),
            ("a/b".to_string(), 1, Some(0x1234))
        );
        let ack = Frame::ack(kind::PUBREL, 0x1234);
        assert_eq!(ack.encode(), vec![0x62, 2, 0x12, 0x34]);
        assert_eq!(ack.ack_id(), Some(0x1234));
    }
}
