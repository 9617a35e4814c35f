//! Reading exactly one DAG-CBOR item off a stream.
//!
//! Hello and chain exchange frame their messages as raw CBOR with no length prefix (lotus
//! `go-cbor-util` `ReadCborRPC`): the item marks its own end. A reader that waits for
//! end-of-stream hangs on a peer that never half-closes, and one that reads "everything" has no
//! bound; so the reader here feeds what arrives into an incremental [`ItemScanner`] and returns
//! as soon as one complete item is buffered, failing once `max_len` bytes did not complete one.
//!
//! The scanner only walks CBOR heads (major type, argument, nesting); the typed decoders of
//! `lsync_core` then check the content. DAG-CBOR forbids indefinite lengths, so they are
//! refused here already, which also keeps the nesting arithmetic exact.

use std::io;

use futures::{AsyncRead, AsyncReadExt};
use thiserror::Error;

/// Deepest nesting accepted. The deepest Lotus payload (a chain-exchange response carrying
/// messages) nests well under 16 levels; 64 leaves room without letting a hostile peer make
/// the scanner's stack large.
pub const MAX_DEPTH: usize = 64;

/// Why the bytes are not (the start of) one DAG-CBOR item.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("reserved CBOR additional-information value {0} at byte {1}")]
    Reserved(u8, usize),
    #[error("indefinite-length CBOR item at byte {0} (not DAG-CBOR)")]
    Indefinite(usize),
    #[error("CBOR item nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("CBOR item declares {declared} elements/bytes at byte {at}, over the limit of {limit} bytes")]
    TooLong {
        declared: u64,
        at: usize,
        limit: usize,
    },
    #[error("no complete CBOR item within {0} bytes")]
    Oversize(usize),
    #[error("stream ended after {0} bytes, inside a CBOR item")]
    Truncated(usize),
}

impl From<FrameError> for io::Error {
    fn from(e: FrameError) -> Self {
        let kind = match e {
            FrameError::Truncated(_) => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// Incremental scanner of one CBOR item. Feed it the growing buffer; it resumes where it
/// stopped, so scanning a large response read in chunks stays linear.
#[derive(Debug, Clone)]
pub struct ItemScanner {
    /// Offset of the next head to parse.
    pos: usize,
    /// Items still owed by each open container (arrays, maps ×2, tags 1).
    stack: Vec<u64>,
    limit: usize,
}

impl ItemScanner {
    /// A scanner for an item of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            pos: 0,
            stack: Vec::new(),
            limit,
        }
    }

    /// `Ok(Some(len))` once `buf[..len]` holds one complete item; `Ok(None)` if more bytes are
    /// needed. `buf` must extend the buffer of earlier calls.
    pub fn advance(&mut self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        loop {
            let at = self.pos;
            let Some(&ib) = buf.get(at) else {
                return Ok(None);
            };
            let major = ib >> 5;
            let ai = ib & 0x1f;
            let (arg, head_len) = match ai {
                0..=23 => (u64::from(ai), 1),
                24..=27 => {
                    let n = 1usize << (ai - 24);
                    let Some(bytes) = buf.get(at + 1..at + 1 + n) else {
                        return Ok(None);
                    };
                    (
                        bytes.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)),
                        1 + n,
                    )
                }
                31 => return Err(FrameError::Indefinite(at)),
                _ => return Err(FrameError::Reserved(ai, at)),
            };
            let body = at + head_len;
            match major {
                // Integers, and simple values / floats (their bytes are the argument).
                0 | 1 | 7 => {
                    self.pos = body;
                    if self.item_done() {
                        return Ok(Some(self.pos));
                    }
                }
                // Byte and text strings: the whole payload must be buffered.
                2 | 3 => {
                    let end = self.checked_end(body, arg, at)?;
                    if buf.len() < end {
                        return Ok(None);
                    }
                    self.pos = end;
                    if self.item_done() {
                        return Ok(Some(self.pos));
                    }
                }
                // Arrays, maps, tags: open a container (empty ones complete at once).
                _ => {
                    let owed = match major {
                        4 => arg,
                        5 => arg.checked_mul(2).ok_or(FrameError::TooLong {
                            declared: arg,
                            at,
                            limit: self.limit,
                        })?,
                        _ => 1,
                    };
                    // Every element takes at least one byte.
                    self.checked_end(body, owed, at)?;
                    self.pos = body;
                    if owed == 0 {
                        if self.item_done() {
                            return Ok(Some(self.pos));
                        }
                    } else {
                        if self.stack.len() >= MAX_DEPTH {
                            return Err(FrameError::TooDeep);
                        }
                        self.stack.push(owed);
                    }
                }
            }
        }
    }

    fn checked_end(&self, body: usize, len: u64, at: usize) -> Result<usize, FrameError> {
        let too_long = FrameError::TooLong {
            declared: len,
            at,
            limit: self.limit,
        };
        let len = usize::try_from(len).map_err(|_| too_long.clone())?;
        let end = body.checked_add(len).ok_or(too_long.clone())?;
        if end > self.limit {
            return Err(too_long);
        }
        Ok(end)
    }

    /// One item finished: settle the containers it completes. True when the top-level item is
    /// complete.
    fn item_done(&mut self) -> bool {
        loop {
            match self.stack.last_mut() {
                None => return true,
                Some(owed) => {
                    *owed -= 1;
                    if *owed > 0 {
                        return false;
                    }
                    self.stack.pop();
                }
            }
        }
    }
}

/// Read one complete CBOR item of at most `max_len` bytes from `io` and return its bytes.
/// Returns as soon as the item is complete: the peer need not close its side. Bytes the peer
/// sent after the item are not part of the protocol and are dropped.
pub async fn read_one_item<T>(io: &mut T, max_len: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    const CHUNK: usize = 64 * 1024;
    let mut scanner = ItemScanner::new(max_len);
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if let Some(len) = scanner.advance(&buf)? {
            buf.truncate(len);
            return Ok(buf);
        }
        if buf.len() >= max_len {
            return Err(FrameError::Oversize(max_len).into());
        }
        let start = buf.len();
        let want = CHUNK.min(max_len - start);
        buf.resize(start + want, 0);
        let n = io.read(&mut buf[start..]).await?;
        buf.truncate(start + n);
        if n == 0 {
            return Err(FrameError::Truncated(start).into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_whole(bytes: &[u8]) -> Result<Option<usize>, FrameError> {
        ItemScanner::new(1 << 20).advance(bytes)
    }

    #[test]
    fn complete_items_end_where_they_end() {
        // [1, "ab", {1: h'00'}, tag 42(h'0001')] followed by junk.
        let item = [
            0x84, 0x01, 0x62, b'a', b'b', 0xa1, 0x01, 0x41, 0x00, 0xd8, 0x2a, 0x42, 0x00, 0x01,
        ];
        let mut with_junk = item.to_vec();
        with_junk.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(scan_whole(&with_junk), Ok(Some(item.len())));
        assert_eq!(scan_whole(&[0x80]), Ok(Some(1)));
        assert_eq!(scan_whole(&[0xf6]), Ok(Some(1)));
    }

    #[test]
    fn byte_by_byte_feeding_resumes() {
        let item = [0x83, 0x19, 0x01, 0x00, 0x60, 0x82, 0x80, 0xf6];
        let mut scanner = ItemScanner::new(100);
        for end in 1..item.len() {
            assert_eq!(scanner.advance(&item[..end]), Ok(None), "prefix {end}");
        }
        assert_eq!(scanner.advance(&item), Ok(Some(item.len())));
    }

    #[test]
    fn hostile_heads_are_refused() {
        assert_eq!(scan_whole(&[0x9f]), Err(FrameError::Indefinite(0)));
        assert_eq!(scan_whole(&[0x1c]), Err(FrameError::Reserved(28, 0)));
        // A byte string claiming 2^32 bytes.
        assert!(matches!(
            scan_whole(&[0x5a, 0xff, 0xff, 0xff, 0xff]),
            Err(FrameError::TooLong { .. })
        ));
        // Nesting bombs.
        assert_eq!(scan_whole(&[0x81; 100]), Err(FrameError::TooDeep));
    }
}
