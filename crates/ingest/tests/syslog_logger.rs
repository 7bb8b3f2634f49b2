//! util-linux `logger` sends to the real listeners over UDP and TCP; the
//! rows are read back from the Delta tables with KQL.

mod syslog_support;

use syslog_support::{TestServer, logger, marker, require_tool, test_limits, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_udp_and_tcp_formats() {
    if !require_tool("logger") {
        return;
    }
    let mut server = TestServer::start(test_limits()).await;
    let tag = marker("lg");
    let udp_port = server.udp.port().to_string();
    let tcp_port = server.tcp.port().to_string();

    let sends: [(&str, &str, &str, &[&str]); 5] = [
        ("udp3164", "--udp", &udp_port, &["--rfc3164"]),
        ("udp5424", "--udp", &udp_port, &["--rfc5424"]),
        ("tcp3164", "--tcp", &tcp_port, &["--rfc3164"]),
        (
            "tcp5424",
            "--tcp",
            &tcp_port,
            &["--rfc5424", "--msgid", "ID7"],
        ),
        (
            "tcpoctet",
            "--tcp",
            &tcp_port,
            &["--rfc5424", "--octet-count"],
        ),
    ];
    for (name, transport, port, format) in sends {
        let message = format!("{name} message with spaces");
        let mut args = vec![
            "--server",
            "127.0.0.1",
            "--port",
            port,
            transport,
            "-t",
            &tag,
            "--id=4242",
            "-p",
            "auth.warning",
        ];
        args.extend_from_slice(format);
        args.push(&message);
        logger(&args).await;
    }

    let query = format!(
        "Syslog | where ProcessName == '{tag}' \
         | project SyslogMessage, Facility, SeverityLevel, ProcessID, HostIP, Computer, CollectorHostName, EventTime, TimeGenerated \
         | order by SyslogMessage asc"
    );
    let rows = server.wait_for_rows(&query, 5).await;
    assert_eq!(rows.len(), 5, "{rows:?}");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let messages: Vec<String> = rows.iter().map(|row| text(row)[0].clone()).collect();
    for name in ["udp3164", "tcp3164"] {
        let expected = format!("{name} message with spaces");
        assert!(messages.contains(&expected), "{expected} in {messages:?}");
    }
    // logger's RFC 5424 messages carry a timeQuality structured-data element,
    // which the Syslog table keeps in front of the message text.
    for (name, prefix) in [("udp5424", ""), ("tcpoctet", ""), ("tcp5424", "ID7 ")] {
        let expected_start = format!("{prefix}[timeQuality ");
        let expected_end = format!("] {name} message with spaces");
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with(&expected_start) && m.ends_with(&expected_end)),
            "{expected_start}...{expected_end} in {messages:?}"
        );
    }
    for row in &rows {
        let cells = text(row);
        assert_eq!(cells[1], "auth", "{cells:?}");
        assert_eq!(cells[2], "warning", "{cells:?}");
        assert_eq!(cells[3], "4242", "{cells:?}");
        assert_eq!(cells[4], "127.0.0.1", "{cells:?}");
        assert_eq!(cells[5], hostname, "{cells:?}");
        assert_eq!(cells[6], "soc-test", "{cells:?}");
    }
    server.stop().await;
    assert_eq!(server.source("syslog_udp").accepted, 2);
    assert_eq!(server.source("syslog_tcp").accepted, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_cef_lands_in_common_security_log() {
    if !require_tool("logger") {
        return;
    }
    let mut server = TestServer::start(test_limits()).await;
    let id = marker("cef");
    let udp_port = server.udp.port().to_string();
    let tcp_port = server.tcp.port().to_string();
    let cef = format!(
        "CEF:0|Palo Alto Networks|PAN-OS|10.1.3|end|TRAFFIC|3|src=192.0.2.10 dst=198.51.100.20 \
         spt=51514 dpt=443 proto=TCP act=allow suser=corp\\\\alice cs1Label=Rule cs1=allow web out \
         deviceExternalId={id} request=https://example.com/a?b=c flexString9=extra"
    );
    logger(&[
        "--server",
        "127.0.0.1",
        "--port",
        &udp_port,
        "--udp",
        "--rfc3164",
        "-t",
        "pan",
        &cef,
    ])
    .await;
    logger(&[
        "--server",
        "127.0.0.1",
        "--port",
        &tcp_port,
        "--tcp",
        "--rfc5424",
        "--octet-count",
        "-t",
        "pan",
        &cef,
    ])
    .await;

    let query = format!(
        "CommonSecurityLog | where DeviceExternalID == '{id}' \
         | project DeviceVendor, DeviceProduct, DeviceVersion, DeviceEventClassID, Activity, LogSeverity, \
           SourceIP, DestinationIP, SourcePort, DestinationPort, Protocol, DeviceAction, SourceUserName, \
           DeviceCustomString1Label, DeviceCustomString1, RequestURL, AdditionalExtensions, Computer, Type"
    );
    let rows = server.wait_for_rows(&query, 2).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        let cells = text(row);
        assert_eq!(
            cells[..19],
            [
                "Palo Alto Networks",
                "PAN-OS",
                "10.1.3",
                "end",
                "TRAFFIC",
                "3",
                "192.0.2.10",
                "198.51.100.20",
                "51514",
                "443",
                "TCP",
                "allow",
                "corp\\alice",
                "Rule",
                "allow web out",
                "https://example.com/a?b=c",
                "flexString9=extra",
                cells[17].as_str(),
                "CommonSecurityLog",
            ]
        );
        assert!(!cells[17].is_empty(), "Computer is set: {cells:?}");
    }

    let typed = server
        .query(&format!(
            "CommonSecurityLog | where DeviceExternalID == '{id}' and DestinationPort == 443 \
             | summarize n = count(), ports = sum(SourcePort)"
        ))
        .await;
    assert_eq!(text(&typed[0]), ["2", "103028"]);
    server.stop().await;
}
