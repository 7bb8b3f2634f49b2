//! Measures syslog parsing and ingest: messages per second for each parser
//! on one thread, then for TCP and UDP ingest through the real listeners
//! into a `WorkspaceSink` on a temporary workspace (Delta commits on disk).
//!
//! Usage: `syslog_throughput [--messages N]` (default 200000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest::sink::WorkspaceSink;
use ingest::syslog::{
    Limits, ReceiveContext, SyslogPipeline, TimeGeneratedFrom, parse_message, serve_tcp, serve_udp,
};
use store::Workspace;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

const RFC5424: &str = "<165>1 2026-12-05T02:39:58.123456Z web01.example.com sshd 4242 ID47 [origin ip=\"192.0.2.1\" software=\"openssh\"] Failed password for invalid user admin from 198.51.100.9 port 50522 ssh2";
const RFC3164: &str = "<38>Dec  5 02:39:58 web01 sshd[4242]: Failed password for invalid user admin from 198.51.100.9 port 50522 ssh2";
const CEF: &str = "<134>Dec  5 02:39:58 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1.3|end|TRAFFIC|3|rt=Dec 05 2026 02:39:58 GMT deviceExternalId=0001 src=192.0.2.10 dst=198.51.100.20 sourceTranslatedAddress=203.0.113.1 spt=51514 dpt=443 proto=TCP act=allow suser=corp\\\\alice cs1Label=Rule cs1=allow web out in=1024 out=20480 cat=business-and-economy request=https://example.com/a?b=c";

fn main() {
    let mut messages = 200_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--messages" => {
                messages = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--messages N")
            }
            other => panic!("unknown argument {other}; usage: syslog_throughput [--messages N]"),
        }
    }

    for (name, message) in [("rfc5424", RFC5424), ("rfc3164", RFC3164), ("cef", CEF)] {
        parse_benchmark(name, message, messages);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("Tokio runtime");
    runtime.block_on(ingest_benchmark(Transport::Tcp, messages));
    runtime.block_on(ingest_benchmark(Transport::Udp, messages));
}

fn parse_benchmark(name: &str, message: &str, count: usize) {
    let limits = Limits::default();
    let context = ReceiveContext {
        received_ticks: 17_649_000_000_000_000,
        sender: Some("192.0.2.7".parse().unwrap()),
        collector_host_name: Some("soc1"),
        time_generated: TimeGeneratedFrom::Received,
    };
    let start = Instant::now();
    for _ in 0..count {
        let row = parse_message(message.as_bytes(), &context, &limits).expect("valid message");
        std::hint::black_box(row);
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "parse {name:<8} {count} messages in {seconds:.3} s: {:.0} messages/s",
        count as f64 / seconds
    );
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Tcp,
    Udp,
}

async fn ingest_benchmark(transport: Transport, count: usize) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let workspace = Workspace::open(dir.path()).expect("workspace");
    let sink = Arc::new(WorkspaceSink::new(workspace, "syslog-bench"));
    let limits = Limits {
        batch_rows: 20_000,
        queue_rows: 100_000,
        ..Limits::default()
    };
    let (pipeline, batcher) = SyslogPipeline::start(sink, limits, None);
    let metrics = pipeline.metrics();
    let shutdown = CancellationToken::new();

    let start = Instant::now();
    let sent = match transport {
        Transport::Tcp => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(serve_tcp(listener, pipeline, shutdown.clone()));
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            let mut block = Vec::with_capacity(64 * 1024);
            for _ in 0..count {
                block.extend_from_slice(RFC3164.as_bytes());
                block.push(b'\n');
                if block.len() > 60 * 1024 {
                    stream.write_all(&block).await.unwrap();
                    block.clear();
                }
            }
            stream.write_all(&block).await.unwrap();
            stream.shutdown().await.unwrap();
            count
        }
        Transport::Udp => {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let address = socket.local_addr().unwrap();
            tokio::spawn(serve_udp(socket, pipeline, shutdown.clone()));
            let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            for _ in 0..count {
                client.send_to(RFC3164.as_bytes(), address).await.unwrap();
            }
            count
        }
    };

    // Wait until every received message is accepted or dropped, then stop.
    let mut last_received = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let snapshot = metrics.snapshot();
        let received: u64 = snapshot.iter().map(|s| s.received).sum();
        let accepted: u64 = snapshot.iter().map(|s| s.accepted).sum();
        let dropped: u64 = snapshot
            .iter()
            .flat_map(|s| s.dropped.iter())
            .map(|(_, n)| n)
            .sum();
        if received == sent as u64 && accepted + dropped == received {
            break;
        }
        // UDP loses datagrams in the kernel; stop when nothing new arrives.
        if matches!(transport, Transport::Udp)
            && received == last_received
            && accepted + dropped == received
        {
            break;
        }
        last_received = received;
    }
    let seconds = start.elapsed().as_secs_f64();
    shutdown.cancel();
    batcher.await.expect("batcher");
    let snapshot = metrics.snapshot();
    let received: u64 = snapshot.iter().map(|s| s.received).sum();
    let accepted: u64 = snapshot.iter().map(|s| s.accepted).sum();
    println!(
        "ingest {:<4} sent {sent}, received {received}, stored {accepted} in {seconds:.3} s: {:.0} stored messages/s",
        format!("{transport:?}").to_lowercase(),
        accepted as f64 / seconds
    );
}
