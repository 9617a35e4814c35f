//! Request-response codecs for `/fil/hello/1.0.0` and `/fil/chain/xchg/0.0.1`.
//!
//! libp2p's built-in CBOR codec cannot be used: it writes CIDs without tag 42, cannot do
//! cbor-gen tuples and reads until end-of-stream. Here every message is one raw DAG-CBOR item
//! (lotus-facts §4.1–4.2), read with [`read_one_item`] under a per-message bound, and
//! encoded/decoded by `lsync_core`'s byte-exact types.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt};
use libp2p::request_response::Codec;
use libp2p::StreamProtocol;
use lsync_core::chain::{
    messages::MAX_RESPONSE_BYTES, DecodeError, EncodeError, HelloMessage, LatencyMessage, Request,
    Response,
};

use super::frame::read_one_item;

/// Lotus's hello protocol.
pub const HELLO_PROTOCOL: &str = "/fil/hello/1.0.0";
/// Lotus's chain-exchange protocol.
pub const XCHG_PROTOCOL: &str = "/fil/chain/xchg/0.0.1";

/// A HelloMessage is four small fields (a handful of CIDs, a BigInt); 64 KiB is far beyond
/// any honest one and small enough that a hostile peer cannot make us buffer much.
pub const MAX_HELLO_BYTES: usize = 64 * 1024;
/// A LatencyMessage is two int64: 64 bytes is generous.
pub const MAX_LATENCY_BYTES: usize = 64;
/// A chain-exchange request: up to a few thousand CIDs of one tipset key at most.
pub const MAX_XCHG_REQUEST_BYTES: usize = 64 * 1024;
/// Lotus's client cap on a chain-exchange response (`maxExchangeMessageSize`, 120 MiB).
pub const MAX_XCHG_RESPONSE_BYTES: usize = MAX_RESPONSE_BYTES;

/// A CBOR message with its size bound on the wire.
pub trait WireMessage: Sized + Send + Sync {
    const MAX_BYTES: usize;
    fn encode(&self) -> Result<Vec<u8>, EncodeError>;
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;
}

macro_rules! wire {
    ($ty:ty, $max:expr) => {
        impl WireMessage for $ty {
            const MAX_BYTES: usize = $max;
            fn encode(&self) -> Result<Vec<u8>, EncodeError> {
                self.to_cbor()
            }
            fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
                <$ty>::decode(bytes)
            }
        }
    };
}

wire!(HelloMessage, MAX_HELLO_BYTES);
wire!(LatencyMessage, MAX_LATENCY_BYTES);
wire!(Request, MAX_XCHG_REQUEST_BYTES);
wire!(Response, MAX_XCHG_RESPONSE_BYTES);

/// One-CBOR-item-per-direction codec for request type `Q` and response type `R`.
pub struct CborCodec<Q, R>(PhantomData<fn() -> (Q, R)>);

impl<Q, R> Default for CborCodec<Q, R> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<Q, R> Clone for CborCodec<Q, R> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// The hello codec: a HelloMessage out, a LatencyMessage back.
pub type HelloCodec = CborCodec<HelloMessage, LatencyMessage>;
/// The chain-exchange codec.
pub type XchgCodec = CborCodec<Request, Response>;

/// Read and decode one message of type `M`.
pub async fn read_message<M: WireMessage, T: AsyncRead + Unpin + Send>(
    io: &mut T,
) -> io::Result<M> {
    let bytes = read_one_item(io, M::MAX_BYTES).await?;
    M::decode(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Encode and write one message, then flush (the caller closes the stream).
pub async fn write_message<M: WireMessage, T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    message: &M,
) -> io::Result<()> {
    let bytes = message
        .encode()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    if bytes.len() > M::MAX_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "message of {} bytes over the limit of {}",
                bytes.len(),
                M::MAX_BYTES
            ),
        ));
    }
    io.write_all(&bytes).await?;
    io.flush().await
}

impl<Q: WireMessage + 'static, R: WireMessage + 'static> Codec for CborCodec<Q, R> {
    type Protocol = StreamProtocol;
    type Request = Q;
    type Response = R;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Q>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<R>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Q) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &req).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: R) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A stream that delivers `data` and then stays open forever: never EOF, like a client that
    /// does not half-close.
    struct OpenEnded {
        data: Vec<u8>,
        at: usize,
    }

    impl AsyncRead for OpenEnded {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            if self.at >= self.data.len() {
                return Poll::Pending;
            }
            // Deliver in small pieces to exercise resumption.
            let n = buf.len().min(3).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn request_is_read_without_end_of_stream() {
        let request = Request {
            head: vec![lsync_core::chain::cbor::block_cid(b"x")],
            length: 5,
            options: Request::HEADERS,
        };
        let mut io = OpenEnded {
            data: request.to_cbor().unwrap(),
            at: 0,
        };
        let mut codec = XchgCodec::default();
        let proto = StreamProtocol::new(XCHG_PROTOCOL);
        let read = futures::executor::block_on(codec.read_request(&proto, &mut io)).unwrap();
        assert_eq!(read, request);
    }

    #[test]
    fn oversize_hello_is_refused() {
        // A byte string of 100 KiB inside an array: over MAX_HELLO_BYTES.
        let mut data = vec![0x84, 0x5a, 0x00, 0x01, 0x90, 0x00];
        data.extend(std::iter::repeat_n(0u8, 100 * 1024));
        let mut io = OpenEnded { data, at: 0 };
        let err =
            futures::executor::block_on(read_message::<HelloMessage, _>(&mut io)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
