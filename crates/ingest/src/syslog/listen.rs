//! UDP, TCP and TLS listeners that feed a [`SyslogPipeline`].
//!
//! Each listener takes a socket the caller bound (so the caller picks the
//! address and reports bind errors), runs until `shutdown` is cancelled,
//! and then returns. TCP and TLS listeners wait for their connections to
//! stop: a connection stops reading at shutdown and hands on the complete
//! frames it already read. A bad message costs that message only; the
//! connection and the listener go on.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_util::sync::CancellationToken;

use super::framing::{Frame, FrameDecoder};
use super::metrics::{DropReason, Transport};
use super::pipeline::SyslogPipeline;

/// Largest UDP payload: 65,535 bytes minus the 8-byte UDP header.
const MAX_DATAGRAM: usize = 65_527;

/// Bytes read from a connection at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Pause after a failed `accept`, such as when the process is out of file
/// descriptors, before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Receives one message per datagram until `shutdown` is cancelled. A full
/// queue drops datagrams (counted as `queue_full`) rather than blocking,
/// which would only move the loss into the kernel's socket buffer, where
/// it is not counted.
pub async fn serve_udp(socket: UdpSocket, pipeline: SyslogPipeline, shutdown: CancellationToken) {
    let local = socket.local_addr().ok();
    tracing::info!(address = ?local, "syslog UDP listener started");
    let mut buffer = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let received = tokio::select! {
            () = shutdown.cancelled() => break,
            received = socket.recv_from(&mut buffer) => received,
        };
        match received {
            Ok((length, peer)) => {
                pipeline
                    .submit(Transport::Udp, &buffer[..length], Some(peer.ip()), false)
                    .await;
            }
            // Linux reports ICMP errors for earlier sends on some sockets;
            // they concern no datagram we could read.
            Err(err) => tracing::debug!(error = %err, "syslog UDP receive failed"),
        }
    }
    tracing::info!(address = ?local, "syslog UDP listener stopped");
}

/// Accepts TCP connections and reads RFC 6587 frames (octet counting or
/// newline framing, detected per frame) until `shutdown` is cancelled.
pub async fn serve_tcp(
    listener: TcpListener,
    pipeline: SyslogPipeline,
    shutdown: CancellationToken,
) {
    serve_stream(listener, None, pipeline, shutdown).await;
}

/// Accepts TLS connections (RFC 5425) with `tls` and reads frames as
/// [`serve_tcp`] does until `shutdown` is cancelled. RFC 5425 requires
/// octet counting, but newline framing is accepted as well.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    pipeline: SyslogPipeline,
    shutdown: CancellationToken,
) {
    serve_stream(listener, Some(TlsAcceptor::from(tls)), pipeline, shutdown).await;
}

async fn serve_stream(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    pipeline: SyslogPipeline,
    shutdown: CancellationToken,
) {
    let transport = if tls.is_some() {
        Transport::Tls
    } else {
        Transport::Tcp
    };
    let local = listener.local_addr().ok();
    tracing::info!(source = transport.source_label(), address = ?local, "syslog listener started");
    let slots = Arc::new(Semaphore::new(pipeline.limits().max_connections));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(source = transport.source_label(), error = %err, "accepting a syslog connection failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            pipeline.metrics().add_rejected_connection(transport);
            tracing::warn!(
                source = transport.source_label(),
                peer = %peer,
                max = pipeline.limits().max_connections,
                "closed a syslog connection: too many open connections"
            );
            continue;
        };
        pipeline.metrics().add_connection(transport);
        let pipeline = pipeline.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            handle_connection(stream, peer, tls, transport, &pipeline, &shutdown).await;
            drop(slot);
        });
    }
    while connections.join_next().await.is_some() {}
    tracing::info!(source = transport.source_label(), address = ?local, "syslog listener stopped");
}

async fn handle_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    transport: Transport,
    pipeline: &SyslogPipeline,
    shutdown: &CancellationToken,
) {
    tracing::debug!(source = transport.source_label(), peer = %peer, "syslog connection opened");
    let result = match tls {
        None => read_frames(stream, peer.ip(), transport, pipeline, shutdown).await,
        Some(acceptor) => {
            let timeout = pipeline.limits().handshake_timeout;
            match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    read_frames(stream, peer.ip(), transport, pipeline, shutdown).await
                }
                Ok(Err(err)) => {
                    pipeline.metrics().add_failed_handshake();
                    Err(err)
                }
                Err(_) => {
                    pipeline.metrics().add_failed_handshake();
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the TLS handshake timed out",
                    ))
                }
            }
        }
    };
    match result {
        Ok(()) => {
            tracing::debug!(source = transport.source_label(), peer = %peer, "syslog connection closed")
        }
        Err(err) => {
            tracing::warn!(source = transport.source_label(), peer = %peer, error = %err, "syslog connection ended with an error")
        }
    }
}

/// Reads frames until the peer closes, the connection idles past the
/// limit, or `shutdown` is cancelled, and submits each message.
async fn read_frames<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: IpAddr,
    transport: Transport,
    pipeline: &SyslogPipeline,
    shutdown: &CancellationToken,
) -> io::Result<()> {
    let limits = pipeline.limits().clone();
    let mut decoder = FrameDecoder::new(limits.max_message_bytes);
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let read = tokio::select! {
            () = shutdown.cancelled() => break,
            read = tokio::time::timeout(limits.idle_timeout, stream.read(&mut chunk)) => read,
        };
        let length = match read {
            Ok(Ok(0)) => break,
            Ok(Ok(length)) => length,
            Ok(Err(err)) => {
                submit_frames(&mut decoder, peer, transport, pipeline).await;
                return Err(err);
            }
            Err(_) => {
                submit_frames(&mut decoder, peer, transport, pipeline).await;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no data for {:?}; closing the idle connection",
                        limits.idle_timeout
                    ),
                ));
            }
        };
        decoder.extend(&chunk[..length]);
        submit_frames(&mut decoder, peer, transport, pipeline).await;
    }
    submit_frames(&mut decoder, peer, transport, pipeline).await;
    match decoder.finish() {
        Some(Ok(Frame::Message(message))) => {
            pipeline.submit(transport, &message, Some(peer), true).await;
        }
        Some(Ok(Frame::TooLong { length })) | Some(Err(length)) => {
            pipeline.metrics().add_received(transport);
            pipeline.count_drop(transport, DropReason::Truncated, 1);
            pipeline.log_frame_drop(transport, DropReason::Truncated, peer, length);
        }
        None => {}
    }
    Ok(())
}

async fn submit_frames(
    decoder: &mut FrameDecoder,
    peer: IpAddr,
    transport: Transport,
    pipeline: &SyslogPipeline,
) {
    while let Some(frame) = decoder.next_frame() {
        match frame {
            Frame::Message(message) => {
                pipeline.submit(transport, &message, Some(peer), true).await;
            }
            Frame::TooLong { length } => {
                pipeline.metrics().add_received(transport);
                pipeline.count_drop(transport, DropReason::TooLong, 1);
                pipeline.log_frame_drop(transport, DropReason::TooLong, peer, length);
            }
        }
    }
}
