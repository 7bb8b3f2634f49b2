//! Encodings: gzip and zlib compression to and from Base64 text, GUIDs as
//! Base64 bytes, SHA-1 and Punycode.

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use sha1::{Digest as _, Sha1};

use super::JsonFunction;
use super::text::text_of;
use kql::KqlType;

pub const CODEC_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new(
        "gzip_compress_to_base64_string",
        1,
        1,
        KqlType::String,
        gzip_compress,
    ),
    JsonFunction::new(
        "gzip_decompress_from_base64_string",
        1,
        1,
        KqlType::String,
        gzip_decompress,
    ),
    JsonFunction::new(
        "zlib_compress_to_base64_string",
        1,
        1,
        KqlType::String,
        zlib_compress,
    ),
    JsonFunction::new(
        "zlib_decompress_from_base64_string",
        1,
        1,
        KqlType::String,
        zlib_decompress,
    ),
    JsonFunction::new(
        "base64_encode_fromguid",
        1,
        1,
        KqlType::String,
        base64_encode_fromguid,
    ),
    JsonFunction::new(
        "base64_decode_toguid",
        1,
        1,
        KqlType::Guid,
        base64_decode_toguid,
    ),
    JsonFunction::new("hash_sha1", 1, 1, KqlType::String, hash_sha1),
    JsonFunction::new(
        "punycode_from_string",
        1,
        1,
        KqlType::String,
        punycode_from_string,
    ),
    JsonFunction::new(
        "punycode_to_string",
        1,
        1,
        KqlType::String,
        punycode_to_string,
    ),
    JsonFunction::new(
        "punycode_domain_to_string",
        1,
        1,
        KqlType::String,
        punycode_domain_to_string,
    ),
    JsonFunction::new(
        "punycode_domain_from_string",
        1,
        1,
        KqlType::String,
        punycode_domain_from_string,
    ),
];

/// The largest decompressed text these functions return, so that a small
/// compressed input cannot expand without bound.
const MAX_DECOMPRESSED: u64 = 64 * 1024 * 1024;

/// Raw DEFLATE data of `input`. Like .NET, which Kusto uses, input that
/// does not shrink is written as stored blocks, so short text gives the
/// same bytes as Kusto.
fn deflate(input: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = encoder
        .write_all(input)
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    let blocks = input.len().div_ceil(0xffff).max(1);
    if !compressed.is_empty() && compressed.len() < input.len() {
        return compressed;
    }
    let mut stored = Vec::with_capacity(input.len() + 5 * blocks);
    let mut chunks = input.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        stored.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let length = chunk.len() as u16;
        stored.push(u8::from(last));
        stored.extend_from_slice(&length.to_le_bytes());
        stored.extend_from_slice(&(!length).to_le_bytes());
        stored.extend_from_slice(chunk);
    }
    stored
}

/// Adler-32 of `data`, the zlib trailer.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5_552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// `gzip_compress_to_base64_string(text)`: the gzip stream of the UTF-8
/// text, in Base64.
fn gzip_compress(args: &[Value]) -> Value {
    let text = text_of(&args[0]);
    let input = text.as_bytes();
    let mut stream = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    stream.extend(deflate(input));
    let mut crc = flate2::Crc::new();
    crc.update(input);
    stream.extend_from_slice(&crc.sum().to_le_bytes());
    stream.extend_from_slice(&(input.len() as u32).to_le_bytes());
    Value::String(BASE64.encode(stream))
}

/// `zlib_compress_to_base64_string(text)`: the zlib stream of the UTF-8
/// text, in Base64.
fn zlib_compress(args: &[Value]) -> Value {
    let text = text_of(&args[0]);
    let input = text.as_bytes();
    let body = deflate(input);
    // The header names the compression level: 0x01 for stored blocks,
    // 0x9c for the default level. Both make the header a multiple of 31.
    let stored = body.first().is_some_and(|first| first & 0b110 == 0);
    let mut stream = vec![0x78, if stored { 0x01 } else { 0x9c }];
    stream.extend(body);
    stream.extend_from_slice(&adler32(input).to_be_bytes());
    Value::String(BASE64.encode(stream))
}

/// Decodes Base64 text and reads it with `decoder`; text that is not
/// Base64, not such a stream or not UTF-8 gives an empty string.
fn decompress<R: std::io::Read>(args: &[Value], decoder: impl FnOnce(Vec<u8>) -> R) -> Value {
    let Ok(bytes) = BASE64.decode(text_of(&args[0]).trim()) else {
        return Value::String(String::new());
    };
    let mut text = String::new();
    match decoder(bytes)
        .take(MAX_DECOMPRESSED)
        .read_to_string(&mut text)
    {
        Ok(_) => Value::String(text),
        Err(_) => Value::String(String::new()),
    }
}

fn gzip_decompress(args: &[Value]) -> Value {
    decompress(args, |bytes| {
        flate2::read::GzDecoder::new(std::io::Cursor::new(bytes))
    })
}

fn zlib_decompress(args: &[Value]) -> Value {
    decompress(args, |bytes| {
        flate2::read::ZlibDecoder::new(std::io::Cursor::new(bytes))
    })
}

/// Returns the 16 bytes of a GUID in the order of .NET's `Guid.ToByteArray`:
/// the first three groups little-endian, the rest as written.
fn guid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text
        .trim()
        .trim_matches(|c| c == '{' || c == '}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    bytes[0..4].reverse();
    bytes[4..6].reverse();
    bytes[6..8].reverse();
    Some(bytes)
}

/// `base64_encode_fromguid(guid)`.
fn base64_encode_fromguid(args: &[Value]) -> Value {
    args[0]
        .as_str()
        .and_then(guid_bytes)
        .map_or(Value::Null, |bytes| Value::String(BASE64.encode(bytes)))
}

/// `base64_decode_toguid(text)`: 16 Base64-encoded bytes as a GUID.
fn base64_decode_toguid(args: &[Value]) -> Value {
    let Ok(mut bytes) = BASE64.decode(text_of(&args[0]).trim()) else {
        return Value::Null;
    };
    if bytes.len() != 16 {
        return Value::Null;
    }
    bytes[0..4].reverse();
    bytes[4..6].reverse();
    bytes[6..8].reverse();
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    Value::String(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// `hash_sha1(value)`: the SHA-1 of the value's text, in lowercase hex.
fn hash_sha1(args: &[Value]) -> Value {
    let digest = Sha1::digest(text_of(&args[0]).as_bytes());
    Value::String(digest.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// `punycode_from_string(text)`: the Punycode encoding of the text.
fn punycode_from_string(args: &[Value]) -> Value {
    idna::punycode::encode_str(&text_of(&args[0])).map_or(Value::Null, Value::String)
}

/// `punycode_to_string(text)`: the text that Punycode `text` encodes.
fn punycode_to_string(args: &[Value]) -> Value {
    idna::punycode::decode_to_string(&text_of(&args[0])).map_or(Value::Null, Value::String)
}

/// The label separators of an internationalized domain name: the full
/// stop and its ideographic, fullwidth and halfwidth forms.
const LABEL_SEPARATORS: &[char] = &['.', '\u{3002}', '\u{ff0e}', '\u{ff61}'];

/// `punycode_domain_to_string(domain)`: every label with a character
/// outside ASCII as `xn--` and its Punycode; other labels as they are.
fn punycode_domain_to_string(args: &[Value]) -> Value {
    let domain = text_of(&args[0]);
    let mut labels = Vec::new();
    for label in domain.split(LABEL_SEPARATORS) {
        if label.is_ascii() {
            labels.push(label.to_string());
        } else {
            match idna::punycode::encode_str(label) {
                Some(encoded) => labels.push(format!("xn--{encoded}")),
                None => return Value::Null,
            }
        }
    }
    Value::String(labels.join("."))
}

/// `punycode_domain_from_string(domain)`: every `xn--` label decoded.
fn punycode_domain_from_string(args: &[Value]) -> Value {
    let domain = text_of(&args[0]);
    let mut labels = Vec::new();
    for label in domain.split('.') {
        let encoded = label
            .get(..4)
            .filter(|prefix| prefix.eq_ignore_ascii_case("xn--"))
            .map(|_| &label[4..]);
        match encoded {
            Some(encoded) => match idna::punycode::decode_to_string(encoded) {
                Some(decoded) => labels.push(decoded),
                None => return Value::Null,
            },
            None => labels.push(label.to_string()),
        }
    }
    Value::String(labels.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_text_uses_stored_blocks() {
        assert_eq!(
            gzip_compress(&[json!("1234567890qwertyuiop")]),
            json!("H4sIAAAAAAAA/wEUAOv/MTIzNDU2Nzg5MHF3ZXJ0eXVpb3A6m7f2FAAAAA==")
        );
        assert_eq!(
            zlib_compress(&[json!("1234567890qwertyuiop")]),
            json!("eAEBFADr/zEyMzQ1Njc4OTBxd2VydHl1aW9wOAkGdw==")
        );
    }

    #[test]
    fn compression_round_trips() {
        let long = "abc".repeat(10_000);
        for (compress, decompress) in [
            (
                gzip_compress as fn(&[Value]) -> Value,
                gzip_decompress as fn(&[Value]) -> Value,
            ),
            (zlib_compress, zlib_decompress),
        ] {
            for text in ["", "x", long.as_str()] {
                let encoded = compress(&[json!(text)]);
                assert_eq!(decompress(&[encoded]), json!(text));
            }
            assert_eq!(decompress(&[json!("x0x0x0")]), json!(""));
        }
    }

    #[test]
    fn guids_use_the_dotnet_byte_order() {
        let guid = json!("ae3133f2-6e22-49ae-b06a-16e6a9b212eb");
        let encoded = base64_encode_fromguid(std::slice::from_ref(&guid));
        assert_eq!(encoded, json!("8jMxriJurkmwahbmqbIS6w=="));
        assert_eq!(base64_decode_toguid(&[encoded]), guid);
        assert_eq!(base64_decode_toguid(&[json!("AAAA")]), Value::Null);
    }

    #[test]
    fn punycode_labels() {
        assert_eq!(
            punycode_from_string(&[json!("académie-française")]),
            json!("acadmie-franaise-npb1a")
        );
        assert_eq!(
            punycode_domain_from_string(&[json!("xn--Ge-mia.Bulg.edu")]),
            json!("Gáe.Bulg.edu")
        );
        assert_eq!(
            punycode_domain_to_string(&[json!("Riðill｡Skáldskaparmál｡org")]),
            json!("xn--Riill-jta.xn--Skldskaparml-dbbj.org")
        );
    }
}
