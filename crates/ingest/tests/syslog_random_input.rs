//! Random, truncated and oversized input to every syslog parser, through
//! the same entry point the listeners use. Each case must return a row or
//! an error, never panic. A seeded generator keeps failures reproducible;
//! the cargo-fuzz targets in `fuzz/` search the same parsers further.

use std::net::{IpAddr, Ipv4Addr};

use ingest::syslog::framing::{Frame, FrameDecoder};
use ingest::syslog::{Limits, ParseError, ReceiveContext, TimeGeneratedFrom, parse_message};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SAMPLES: [&str; 6] = [
    "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"] \u{feff}An application event",
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "<187>Mar  1 2026 18:46:11.123 router1 %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
    "<134>Sep 19 08:26:10 fw01 CEF:0|Security|threat\\|manager|1.0|100|worm stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=a\\=b c\\\\d cs1Label=x cs1=y z end=1789000000000",
    "CEF:0|V|P|1|s|n|1|cn1=99999999999 start=Sep 19 2026 08:26:10 UTC act=\\n",
    "<13>1 - - - - - -",
];

fn context() -> ReceiveContext<'static> {
    ReceiveContext {
        received_ticks: 17_649_000_000_000_000,
        sender: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        collector_host_name: None,
        time_generated: TimeGeneratedFrom::EventTime,
    }
}

fn check(bytes: &[u8], limits: &Limits) {
    match parse_message(bytes, &context(), limits) {
        Ok(row) => {
            let name = row.table().name;
            assert!(name == "Syslog" || name == "CommonSecurityLog", "{name}");
        }
        Err(ParseError::TooLong { length, max }) => assert!(length > max),
        Err(_) => {}
    }
}

#[test]
fn every_prefix_of_real_messages() {
    let limits = Limits::default();
    for sample in SAMPLES {
        let bytes = sample.as_bytes();
        for end in 0..=bytes.len() {
            check(&bytes[..end], &limits);
            check(&bytes[end..], &limits);
        }
    }
}

#[test]
fn random_mutations_of_real_messages() {
    let limits = Limits {
        max_fields: 8,
        ..Limits::default()
    };
    let mut rng = StdRng::seed_from_u64(0x5e5106);
    let alphabet = b"<>|=\\ []\"-:0123456789TZ.+CEF\n\r\0\xff\xfe";
    for _ in 0..20_000 {
        let sample = SAMPLES[rng.random_range(0..SAMPLES.len())];
        let mut bytes = sample.as_bytes().to_vec();
        for _ in 0..rng.random_range(1..8) {
            let position = rng.random_range(0..=bytes.len());
            match rng.random_range(0..3) {
                0 if position < bytes.len() => {
                    bytes[position] = alphabet[rng.random_range(0..alphabet.len())];
                }
                1 if position < bytes.len() => {
                    bytes.remove(position);
                }
                _ => bytes.insert(position, alphabet[rng.random_range(0..alphabet.len())]),
            }
        }
        check(&bytes, &limits);
    }
}

#[test]
fn random_bytes() {
    let limits = Limits::default();
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..5_000 {
        let length = rng.random_range(0..512);
        let bytes: Vec<u8> = (0..length).map(|_| rng.random()).collect();
        check(&bytes, &limits);
        let mut prefixed = b"<13>".to_vec();
        prefixed.extend_from_slice(&bytes);
        check(&prefixed, &limits);
        let mut cef = b"CEF:0|".to_vec();
        cef.extend_from_slice(&bytes);
        check(&cef, &limits);
    }
}

#[test]
fn oversized_input_is_rejected_with_its_size() {
    let limits = Limits::default();
    let mut message = SAMPLES[1].as_bytes().to_vec();
    message.resize(limits.max_message_bytes + 1, b'a');
    assert_eq!(
        parse_message(&message, &context(), &limits).err(),
        Some(ParseError::TooLong {
            length: limits.max_message_bytes + 1,
            max: limits.max_message_bytes
        })
    );
    let extension: Vec<String> = (0..=limits.max_fields).map(|i| format!("k{i}=v")).collect();
    let cef = format!("CEF:0|V|P|1|s|n|1|{}", extension.join(" "));
    assert_eq!(
        parse_message(cef.as_bytes(), &context(), &limits).err(),
        Some(ParseError::TooManyFields {
            count: limits.max_fields + 1,
            max: limits.max_fields
        })
    );
}

#[test]
fn random_streams_through_the_frame_decoder() {
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..2_000 {
        let mut stream = Vec::new();
        for _ in 0..rng.random_range(0..6) {
            let sample = SAMPLES[rng.random_range(0..SAMPLES.len())].as_bytes();
            if rng.random_bool(0.5) {
                stream.extend(format!("{} ", sample.len() + rng.random_range(0..3)).into_bytes());
                stream.extend_from_slice(sample);
            } else {
                stream.extend_from_slice(sample);
                stream.push(b'\n');
            }
            if rng.random_bool(0.2) {
                stream.push(rng.random());
            }
        }
        let mut decoder = FrameDecoder::new(200);
        let mut position = 0;
        while position < stream.len() {
            let end = (position + rng.random_range(1..64)).min(stream.len());
            decoder.extend(&stream[position..end]);
            position = end;
            while let Some(frame) = decoder.next_frame() {
                if let Frame::Message(message) = frame {
                    assert!(message.len() <= 200);
                    check(&message, &Limits::default());
                }
            }
        }
        let _ = decoder.finish();
    }
}
