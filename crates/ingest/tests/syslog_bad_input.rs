//! Bad messages cost only themselves: the connection's good messages still
//! arrive, every drop is counted by reason, and shutdown flushes.

mod syslog_support;

use std::time::Duration;

use ingest::syslog::Limits;
use syslog_support::{TestServer, marker};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

fn dropped(snapshot: &ingest::syslog::SourceSnapshot, reason: &str) -> u64 {
    snapshot
        .dropped
        .iter()
        .find(|(label, _)| *label == reason)
        .map_or(0, |(_, count)| *count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_keep_the_connection() {
    let limits = Limits {
        max_message_bytes: 200,
        max_fields: 5,
        batch_delay: Duration::from_millis(50),
        ..Limits::default()
    };
    let mut server = TestServer::start(limits).await;
    let tag = marker("bad");

    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    let good = |n: u32| format!("<14>Dec  5 02:39:58 host1 {tag}: good {n}");
    let mut payload = Vec::new();
    payload.extend(format!("{}\n", good(1)).into_bytes());
    payload.extend(b"<999>invalid pri\n");
    payload.extend(vec![b'x'; 300]);
    payload.push(b'\n');
    let octet = good(2);
    payload.extend(format!("{} {octet}", octet.len()).into_bytes());
    payload.extend(b"<13>1 2026-13-45T00:00:00Z h a - - - bad time\n");
    let fields: Vec<String> = (0..6).map(|i| format!("k{i}=v")).collect();
    payload.extend(format!("<13>CEF:0|V|P|1|s|n|1|{}\n", fields.join(" ")).into_bytes());
    payload.extend(format!("{}\n", good(3)).into_bytes());
    // Byte-by-byte writes exercise the framing across reads.
    for chunk in payload.chunks(7) {
        stream.write_all(chunk).await.unwrap();
    }
    // The last message has no newline: the end of the connection ends it.
    stream.write_all(good(4).as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);

    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(&vec![b'y'; 500], server.udp).await.unwrap();
    udp.send_to(good(5).as_bytes(), server.udp).await.unwrap();

    let query = format!(
        "Syslog | where ProcessName == '{tag}' | project SyslogMessage | order by SyslogMessage asc"
    );
    let rows = server.wait_for_rows(&query, 5).await;
    let messages: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(messages, ["good 1", "good 2", "good 3", "good 4", "good 5"]);

    server.stop().await;
    let tcp = server.source("syslog_tcp");
    assert_eq!(tcp.received, 8);
    assert_eq!(tcp.accepted, 4);
    assert_eq!(dropped(&tcp, "invalid"), 2);
    assert_eq!(dropped(&tcp, "too_long"), 1);
    assert_eq!(dropped(&tcp, "too_many_fields"), 1);
    let udp = server.source("syslog_udp");
    assert_eq!(udp.received, 2);
    assert_eq!(udp.accepted, 1);
    assert_eq!(dropped(&udp, "too_long"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_queued_rows() {
    // A batch delay far beyond the test: only the shutdown flush can store
    // the rows.
    let limits = Limits {
        batch_delay: Duration::from_secs(3600),
        ..Limits::default()
    };
    let mut server = TestServer::start(limits).await;
    let tag = marker("flush");
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    for n in 0..50 {
        let message = format!("<14>Dec  5 02:39:58 host1 {tag}: row {n}\n");
        stream.write_all(message.as_bytes()).await.unwrap();
    }
    stream.flush().await.unwrap();
    // Wait until the listener has read all 50 messages.
    for _ in 0..100 {
        if server.source("syslog_tcp").received == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.source("syslog_tcp").received, 50);
    let before = server
        .query(&format!("Syslog | where ProcessName == '{tag}' | count"))
        .await;
    assert_eq!(before[0][0], 0);

    server.stop().await;
    let after = server
        .query(&format!("Syslog | where ProcessName == '{tag}' | count"))
        .await;
    assert_eq!(after[0][0], 50);
    assert_eq!(server.source("syslog_tcp").accepted, 50);
    drop(stream);
}
