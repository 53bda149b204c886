//! lambda-streaming.md §3: the decoder against the spec's worked example (§3.4), its CRC check values, and
//! an encoder written here from §3.1/§3.2 (round trips, any split of the bytes).

use super::*;
use proptest::prelude::*;

/// §3.4: PayloadChunk "hello" (111 bytes), headers `:event-type`, `:content-type`, `:message-type`.
const HELLO_HEX: &str = "0000006f0000005af5fe871f0b3a6576656e742d7479706507000c5061796c6f61644368756e6b0d3a636f6e74656e742d747970650700186170706c69636174696f6e2f6f637465742d73747265616d0d3a6d6573736167652d747970650700056576656e7468656c6c6f29e71260";
/// §3.4: InvokeComplete "{}" (102 bytes).
const COMPLETE_HEX: &str = "00000066000000541f56c8690b3a6576656e742d7479706507000e496e766f6b65436f6d706c6574650d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b7d7006d467";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ------------------------------------------------------------------------------------------------ encoder

/// An owned header value for the test encoder.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    Str(String),
    Ts(i64),
    Uuid([u8; 16]),
}

fn encode_headers(headers: &[(&str, Val)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, v) in headers {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        match v {
            Val::Bool(true) => out.push(0),
            Val::Bool(false) => out.push(1),
            Val::Byte(b) => {
                out.push(2);
                out.extend_from_slice(&b.to_be_bytes());
            }
            Val::Short(n) => {
                out.push(3);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Val::Int(n) => {
                out.push(4);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Val::Long(n) => {
                out.push(5);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Val::Bytes(b) => {
                out.push(6);
                out.extend_from_slice(&(b.len() as u16).to_be_bytes());
                out.extend_from_slice(b);
            }
            Val::Str(s) => {
                out.push(7);
                out.extend_from_slice(&(s.len() as u16).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Val::Ts(n) => {
                out.push(8);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Val::Uuid(u) => {
                out.push(9);
                out.extend_from_slice(u);
            }
        }
    }
    out
}

/// §3.1: prelude, prelude CRC, headers, payload, message CRC.
fn encode(headers: &[(&str, Val)], payload: &[u8]) -> Vec<u8> {
    let block = encode_headers(headers);
    let total = (16 + block.len() + payload.len()) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
    let crc = crc32(&out, 0);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&block);
    out.extend_from_slice(payload);
    let crc = crc32(&out, 0);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn s(v: &str) -> Val {
    Val::Str(v.to_string())
}

fn chunk(payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            (":event-type", s("PayloadChunk")),
            (":content-type", s("application/octet-stream")),
            (":message-type", s("event")),
        ],
        payload,
    )
}

fn complete(payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            (":event-type", s("InvokeComplete")),
            (":content-type", s("application/json")),
            (":message-type", s("event")),
        ],
        payload,
    )
}

/// Owned form of [`Event`] for comparisons across feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Chunk(Vec<u8>),
    Complete(Option<String>, Option<String>, Option<String>),
    Exception(String, Vec<u8>),
    Error(String, String),
    Unknown(String),
}

fn own(e: Event<'_>) -> Ev {
    match e {
        Event::PayloadChunk(p) => Ev::Chunk(p.to_vec()),
        Event::InvokeComplete {
            error_code,
            error_details,
            log_result,
        } => Ev::Complete(error_code, error_details, log_result),
        Event::Exception {
            exception_type,
            payload,
        } => Ev::Exception(exception_type, payload.to_vec()),
        Event::Error { code, message } => Ev::Error(code, message),
        Event::Unknown { event_type } => Ev::Unknown(event_type),
    }
}

/// Feeds `bytes` in pieces of `step` bytes; the events and the first error.
fn decode_in(decoder: &mut Decoder, bytes: &[u8], step: usize) -> (Vec<Ev>, Option<DecodeError>) {
    let mut events = Vec::new();
    for piece in bytes.chunks(step.max(1)) {
        if let Err(e) = decoder.feed(piece, |e| events.push(own(e))) {
            return (events, Some(e));
        }
    }
    (events, None)
}

fn decode(bytes: &[u8], step: usize) -> (Vec<Ev>, Option<DecodeError>) {
    decode_in(&mut Decoder::new(), bytes, step)
}

// ------------------------------------------------------------------------------------------------- tests

#[test]
fn s3_1_crc32_is_the_zlib_one_not_crc32c() {
    // §3.4's check values; 0xE3069283 would be CRC-32C.
    assert_eq!(crc32(b"123456789", 0), 0xCBF4_3926);
    assert_eq!(crc32(b"hello", 0), 0x3610_A686);
    assert_eq!(crc32(b"", 0), 0);
    // Continuation, as botocore computes the message CRC from the prelude CRC.
    assert_eq!(crc32(b"56789", crc32(b"1234", 0)), 0xCBF4_3926);
}

#[test]
fn s3_4_the_encoder_reproduces_the_worked_example_byte_for_byte() {
    assert_eq!(chunk(b"hello"), unhex(HELLO_HEX));
    assert_eq!(complete(b"{}"), unhex(COMPLETE_HEX));
}

#[test]
fn s3_4_worked_example_decodes_whole_byte_by_byte_and_seven_at_a_time() {
    let mut bytes = unhex(HELLO_HEX);
    bytes.extend(unhex(COMPLETE_HEX));
    let want = vec![Ev::Chunk(b"hello".to_vec()), Ev::Complete(None, None, None)];
    for step in [bytes.len(), 1, 7, 12, 13, 110, 111, 112] {
        let mut d = Decoder::new();
        assert_eq!(
            decode_in(&mut d, &bytes, step),
            (want.clone(), None),
            "step {step}"
        );
        assert!(d.is_complete() && d.at_boundary());
    }
}

#[test]
fn s3_4_worked_example_header_block_parses_to_the_three_strings() {
    let bytes = unhex(HELLO_HEX);
    let headers = parse_headers(&bytes[12..102]).unwrap();
    assert_eq!(
        headers,
        [
            (":event-type", HeaderValue::String("PayloadChunk")),
            (":content-type", HeaderValue::String("application/octet-stream")),
            (":message-type", HeaderValue::String("event")),
        ]
    );
}

#[test]
fn s3_4_one_flipped_payload_bit_is_a_message_crc_mismatch_with_botocores_values() {
    let mut bytes = unhex(HELLO_HEX);
    bytes[105] ^= 1; // "hello" -> "helmo"
    for step in [1, 111] {
        let (events, err) = decode(&bytes, step);
        assert!(events.is_empty());
        assert_eq!(
            err,
            Some(DecodeError::MessageCrc {
                expected: 0x29e7_1260,
                computed: 0x30fc_2321
            })
        );
    }
}

#[test]
fn s3_1_a_bad_prelude_crc_is_refused_before_the_rest_arrives_and_the_stream_stays_failed() {
    let mut bytes = unhex(HELLO_HEX);
    bytes[11] ^= 0x80;
    let mut d = Decoder::new();
    assert_eq!(
        d.feed(&bytes[..12], |_| panic!("no event")),
        Err(DecodeError::PreludeCrc {
            expected: 0xf5fe_879f,
            computed: 0xf5fe_871f
        })
    );
    // §3.1: a bad CRC ends the stream; a good message afterwards is not decoded.
    assert_eq!(
        d.feed(&unhex(COMPLETE_HEX), |_| panic!("no event")),
        Err(DecodeError::Failed)
    );
    assert_eq!(d.buffered(), 0);
}

/// A prelude with a valid CRC and the given lengths.
fn prelude(total: u32, headers: u32) -> Vec<u8> {
    let mut p = total.to_be_bytes().to_vec();
    p.extend_from_slice(&headers.to_be_bytes());
    let crc = crc32(&p, 0);
    p.extend_from_slice(&crc.to_be_bytes());
    p
}

#[test]
fn s3_1_size_limits_are_checked_on_the_prelude() {
    let cases = [
        (
            15,
            0,
            DecodeError::TotalLength {
                total: 15,
                limit: MAX_MESSAGE_BYTES,
            },
        ),
        (
            0,
            0,
            DecodeError::TotalLength {
                total: 0,
                limit: MAX_MESSAGE_BYTES,
            },
        ),
        (
            u32::MAX,
            0,
            DecodeError::TotalLength {
                total: u32::MAX,
                limit: MAX_MESSAGE_BYTES,
            },
        ),
        // headers over 131,072
        (16 + 131_073, 131_073, DecodeError::HeadersLength(131_073)),
        // headers longer than the message
        (100, 85, DecodeError::HeadersLength(85)),
        // payload over 24 MB, headers empty
        (
            16 + MAX_PAYLOAD_BYTES + 1,
            0,
            DecodeError::PayloadLength(MAX_PAYLOAD_BYTES + 1),
        ),
    ];
    for (total, headers, want) in cases {
        let mut d = Decoder::new();
        assert_eq!(
            d.feed(&prelude(total, headers), |_| {}),
            Err(want.clone()),
            "{total} {headers}"
        );
        assert_eq!(d.buffered(), 0);
    }
    // The largest the spec allows is accepted on its prelude (and buffered as it comes).
    let mut d = Decoder::new();
    assert_eq!(
        d.feed(&prelude(MAX_MESSAGE_BYTES, MAX_HEADERS_BYTES), |_| {}),
        Ok(())
    );
    assert_eq!(d.buffered(), 12);
}

#[test]
fn bounded_buffering_a_message_over_the_decoders_limit_is_refused_on_its_prelude() {
    let message = chunk(&[7u8; 1000]);
    let mut d = Decoder::with_limit(1000);
    assert_eq!(
        d.feed(&message[..40], |_| {}),
        Err(DecodeError::TotalLength {
            total: message.len() as u32,
            limit: 1000
        })
    );
    // Within the limit: never more buffered than one message, whatever the piece sizes.
    let mut d = Decoder::with_limit(message.len() as u32);
    let mut two = message.clone();
    two.extend_from_slice(&message);
    let mut got = 0;
    for piece in two.chunks(333) {
        d.feed(piece, |e| {
            if let Event::PayloadChunk(p) = e {
                got += p.len()
            }
        })
        .unwrap();
        assert!(d.buffered() < message.len());
    }
    assert_eq!(got, 2000);
}

#[test]
fn s3_2_every_header_value_type_parses() {
    let headers = vec![
        ("t", Val::Bool(true)),
        ("f", Val::Bool(false)),
        ("b", Val::Byte(-2)),
        ("sh", Val::Short(-300)),
        ("i", Val::Int(-70_000)),
        ("l", Val::Long(-5_000_000_000)),
        ("ba", Val::Bytes(vec![0, 1, 255])),
        ("st", s("héllo")),
        ("ts", Val::Ts(1_700_000_000_123)),
        ("u", Val::Uuid(*b"0123456789abcdef")),
    ];
    let block = encode_headers(&headers);
    let parsed = parse_headers(&block).unwrap();
    let want = vec![
        ("t", HeaderValue::Bool(true)),
        ("f", HeaderValue::Bool(false)),
        ("b", HeaderValue::Byte(-2)),
        ("sh", HeaderValue::Short(-300)),
        ("i", HeaderValue::Int(-70_000)),
        ("l", HeaderValue::Long(-5_000_000_000)),
        ("ba", HeaderValue::Bytes(&[0, 1, 255])),
        ("st", HeaderValue::String("héllo")),
        ("ts", HeaderValue::Timestamp(1_700_000_000_123)),
        ("u", HeaderValue::Uuid(*b"0123456789abcdef")),
    ];
    assert_eq!(parsed, want);
    // A cut between two headers parses the headers before it; any other cut is an error, never a panic.
    let mut boundaries = vec![0];
    for hdr in &headers {
        boundaries.push(boundaries.last().unwrap() + encode_headers(std::slice::from_ref(hdr)).len());
    }
    for cut in 0..block.len() {
        let r = parse_headers(&block[..cut]);
        match boundaries.iter().position(|b| *b == cut) {
            Some(n) => assert_eq!(r.unwrap().len(), n, "cut {cut}"),
            None => assert!(r.is_err(), "cut {cut}: {r:?}"),
        }
    }
    assert_eq!(
        parse_headers(&[1, b'x', 10]),
        Err(DecodeError::Header("unknown value type"))
    );
    assert_eq!(
        parse_headers(&[0, 0]),
        Err(DecodeError::Header("empty header name"))
    );
    assert_eq!(
        parse_headers(&[1, 0xff, 0]),
        Err(DecodeError::Header("header name is not UTF-8"))
    );
}

#[test]
fn s3_3_invoke_complete_carries_error_code_details_and_log_result() {
    // §3.4: botocore parsed this payload to those two fields.
    let bytes = complete(br#"{"ErrorCode":"Runtime.StreamError","ErrorDetails":"boom"}"#);
    assert_eq!(
        decode(&bytes, 5).0,
        [Ev::Complete(
            Some("Runtime.StreamError".into()),
            Some("boom".into()),
            None
        )]
    );
    // Missing or null ErrorCode = success (§3.3 recommendation); empty payload = {}.
    for payload in [
        &b""[..],
        b"{}",
        br#"{"ErrorCode":null,"LogResult":"bG9n"}"#,
        b"  ",
    ] {
        let (events, err) = decode(&complete(payload), 3);
        assert_eq!(err, None);
        assert!(matches!(&events[..], [Ev::Complete(None, None, _)]), "{events:?}");
    }
    for payload in [&b"[]"[..], b"nope", br#"{"ErrorCode":5}"#] {
        assert!(matches!(
            decode(&complete(payload), 200).1,
            Some(DecodeError::InvokeComplete(_))
        ));
    }
}

#[test]
fn s3_3_exception_error_unknown_and_typeless_messages() {
    let exception = encode(
        &[
            (":message-type", s("exception")),
            (":exception-type", s("ServiceException")),
        ],
        b"{\"message\":\"x\"}",
    );
    let error = encode(
        &[
            (":message-type", s("error")),
            (":error-code", s("InternalError")),
            (":error-message", s("bad")),
        ],
        b"",
    );
    let unknown = encode(
        &[(":message-type", s("event")), (":event-type", s("Heartbeat"))],
        b"",
    );
    let mut all = exception.clone();
    all.extend(&error);
    all.extend(&unknown);
    assert_eq!(
        decode(&all, 4),
        (
            vec![
                Ev::Exception("ServiceException".into(), b"{\"message\":\"x\"}".to_vec()),
                Ev::Error("InternalError".into(), "bad".into()),
                Ev::Unknown("Heartbeat".into()),
            ],
            None
        )
    );
    let no_type = encode(&[(":event-type", s("PayloadChunk"))], b"x");
    assert_eq!(
        decode(&no_type, 50).1,
        Some(DecodeError::MessageType("no :message-type".into()))
    );
    let no_event_type = encode(&[(":message-type", s("event"))], b"x");
    assert!(matches!(
        decode(&no_event_type, 50).1,
        Some(DecodeError::MessageType(_))
    ));
    let int_type = encode(&[(":message-type", Val::Int(1))], b"x");
    assert!(matches!(
        decode(&int_type, 50).1,
        Some(DecodeError::MessageType(_))
    ));
}

#[test]
fn s3_3_invoke_complete_is_the_last_message() {
    let mut bytes = complete(b"{}");
    bytes.extend(chunk(b"late"));
    let (events, err) = decode(&bytes, 1000);
    assert_eq!(events, [Ev::Complete(None, None, None)]);
    assert_eq!(err, Some(DecodeError::AfterComplete));
}

#[test]
fn a_truncated_stream_is_visible_as_not_complete() {
    let bytes = chunk(b"hello");
    let mut d = Decoder::new();
    let (events, err) = decode_in(&mut d, &bytes[..50], 7);
    assert!(events.is_empty() && err.is_none());
    assert!(!d.is_complete() && !d.at_boundary());
}

#[test]
fn error_messages_read_like_the_spec() {
    assert_eq!(
        DecodeError::MessageCrc {
            expected: 0x29e71260,
            computed: 0x30fc2321
        }
        .to_string(),
        "event-stream message crc mismatch (expected 0x29e71260, computed 0x30fc2321)"
    );
    assert_eq!(
        DecodeError::TotalLength { total: 15, limit: 16 }.to_string(),
        "event-stream message length 15 outside 16..=16"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any messages, split anywhere: the same events as decoding them whole, payloads intact.
    #[test]
    fn round_trip_any_split(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        error_code in prop::option::of("[A-Za-z.]{1,20}"),
    ) {
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        for p in &payloads {
            bytes.extend(chunk(p));
            want.push(Ev::Chunk(p.clone()));
        }
        let done = match &error_code {
            Some(c) => format!(r#"{{"ErrorCode":"{c}"}}"#),
            None => "{}".into(),
        };
        bytes.extend(complete(done.as_bytes()));
        want.push(Ev::Complete(error_code.clone(), None, None));

        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for w in points.windows(2) {
            d.feed(&bytes[w[0]..w[1]], |e| got.push(own(e))).unwrap();
        }
        prop_assert_eq!(got, want);
        prop_assert!(d.is_complete() && d.at_boundary());
    }

    /// Any header values round-trip through the encoder and parse_headers.
    #[test]
    fn headers_round_trip(vals in prop::collection::vec(prop_oneof![
        any::<bool>().prop_map(Val::Bool),
        any::<i8>().prop_map(Val::Byte),
        any::<i16>().prop_map(Val::Short),
        any::<i32>().prop_map(Val::Int),
        any::<i64>().prop_map(Val::Long),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Val::Bytes),
        ".{0,20}".prop_map(Val::Str),
        any::<i64>().prop_map(Val::Ts),
        any::<[u8; 16]>().prop_map(Val::Uuid),
    ], 0..8)) {
        let names: Vec<String> = (0..vals.len()).map(|i| format!("h{i}")).collect();
        let headers: Vec<(&str, Val)> = names.iter().map(String::as_str).zip(vals.iter().cloned()).collect();
        let block = encode_headers(&headers);
        let parsed = parse_headers(&block).unwrap();
        prop_assert_eq!(parsed.len(), vals.len());
        for ((_, got), want) in parsed.iter().zip(&vals) {
            let back = match *got {
                HeaderValue::Bool(b) => Val::Bool(b),
                HeaderValue::Byte(b) => Val::Byte(b),
                HeaderValue::Short(n) => Val::Short(n),
                HeaderValue::Int(n) => Val::Int(n),
                HeaderValue::Long(n) => Val::Long(n),
                HeaderValue::Bytes(b) => Val::Bytes(b.to_vec()),
                HeaderValue::String(s) => Val::Str(s.to_string()),
                HeaderValue::Timestamp(n) => Val::Ts(n),
                HeaderValue::Uuid(u) => Val::Uuid(u),
            };
            prop_assert_eq!(&back, want);
        }
    }

    /// Arbitrary bytes never panic and never buffer more than the limit.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), step in 1usize..50) {
        let mut d = Decoder::with_limit(256);
        for piece in bytes.chunks(step) {
            if d.feed(piece, |_| {}).is_err() { break; }
            prop_assert!(d.buffered() <= 256);
        }
    }
}

/// §3.4: the public encoder (used by the fake Envoy and the Lambda mock) writes the worked example's bytes.
#[test]
fn s3_4_the_public_encoder_writes_the_worked_example_byte_for_byte() {
    assert_eq!(encode_payload_chunk(b"hello"), unhex(HELLO_HEX));
    assert_eq!(encode_invoke_complete("{}"), unhex(COMPLETE_HEX));
}
