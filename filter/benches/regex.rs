//! Cost of a `vars` regex (`~~`, P1) and a `regex_uri` rewrite: routewise's engine ([`routewise::matchers::rx`],
//! a DFA built at configure time) next to Rust's `regex` crate (what routewise used before issue 13; a lazy
//! DFA), on the same patterns and haystacks.
//!
//! `cargo bench -p routewise --bench regex -- --warm-up-time 1 --measurement-time 3`
//!
//! `is_match/*`: a typical header test (`(?i)mobile|android` against a 120-byte user agent), a path prefix, and
//! the two patterns that made `regex-lite` cost a quarter-second (bench/README.md, "Other measurements")
//! against a 60 KB header value (Envoy's default header limit), where the cost must stay linear; and two
//! patterns without a whole DFA (too many states), whose DFA is built during each search: on repetitive
//! values, and on random ones (every byte a new state: the worst case).
//! `replace/*`: `regex_uri` `["^/v1/(.*)", "/internal/$1"]` on a 40-byte path and a 8 KB one.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use routewise::matchers::rx;

fn is_match(c: &mut Criterion) {
    let ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
    let wide = "ab".repeat(30_000);
    let mut x: u32 = 0x9e37_79b9;
    let random_ab: String = (0..60_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if x.is_multiple_of(2) {
                'a'
            } else {
                'b'
            }
        })
        .collect();
    let cases: [(&str, &str, String); 8] = [
        ("user_agent", "(?i)mobile|android", ua.to_string()),
        (
            "path_prefix",
            r"^/api/v[0-9]+/pets/\d+$",
            "/api/v2/pets/12345".to_string(),
        ),
        ("wide_class_60k", "[ab]{0,200}c", wide.clone()),
        ("nested_rep_60k", "(?:a[ab]{20}){1,30}c", wide.clone()),
        // No DFA (each `a` starts a match to track): walked as an NFA, the per-byte bound of that path.
        ("nfa_a_dot11_60k", "a.{11}z", wide),
        ("nfa_ab60_60k", "(?:a|b)*a[ab]{60}z", "a".repeat(60_000)),
        // Random a/b: 2^11 (2^60) reachable states, more than one search keeps (512): the worst case.
        ("nfa_a_dot11_random_60k", "a.{11}z", random_ab.clone()),
        ("nfa_ab60_random_60k", "(?:a|b)*a[ab]{60}z", random_ab),
    ];
    let mut g = c.benchmark_group("is_match");
    for (name, pattern, hay) in &cases {
        g.throughput(Throughput::Bytes(hay.len() as u64));
        if let Ok(re) = rx::Regex::new(pattern) {
            g.bench_with_input(BenchmarkId::new("routewise", name), hay, |b, h| {
                b.iter(|| re.is_match(black_box(h)))
            });
        }
        let re = regex::Regex::new(pattern).unwrap();
        g.bench_with_input(BenchmarkId::new("regex", name), hay, |b, h| {
            b.iter(|| re.is_match(black_box(h)))
        });
    }
    g.finish();
}

fn replace(c: &mut Criterion) {
    let mine = rx::Regex::new("^/v1/(.*)").unwrap();
    let theirs = regex::Regex::new("^/v1/(.*)").unwrap();
    let mut g = c.benchmark_group("replace");
    for (name, path) in [
        ("path_40", "/v1/pets/12345/toys/987/details?x".to_string()),
        ("path_8k", format!("/v1/{}", "seg/".repeat(2048))),
    ] {
        g.throughput(Throughput::Bytes(path.len() as u64));
        g.bench_with_input(BenchmarkId::new("routewise", name), &path, |b, p| {
            b.iter(|| mine.replace(black_box(p), "/internal/$1").len())
        });
        g.bench_with_input(BenchmarkId::new("regex", name), &path, |b, p| {
            b.iter(|| theirs.replace(black_box(p), "/internal/$1").len())
        });
    }
    g.finish();
}

criterion_group!(benches, is_match, replace);
criterion_main!(benches);
