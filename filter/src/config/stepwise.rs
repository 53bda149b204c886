//! Reading a configuration document in slices ([`crate::budget`]): the big lists (`domains`, their
//! `routing_rules` and `api_mappings`, `apis`, their `routes` and `services`, `consumers`) are walked here,
//! item by item, and every item is parsed by serde on its own, exactly as [`Lenient`] parses it inside the
//! whole document; what is left of an object once its big lists are taken out is parsed by serde in one
//! piece, with `[]` in their place.
//!
//! This is only the reading of documents that are right: anything unusual (a syntax error, a duplicate big
//! list, a domain or API that does not parse, text after the document) gives up with `None`, and the
//! caller reads the document again with [`super::parse_document`], which reports every error. A document
//! read here gives the [`Config`] `parse_document` gives (`tests::stepwise_reads_as_parse_document`).

use std::borrow::Cow;

use serde::de::DeserializeOwned;

use super::{ApiConfig, Config, DomainConfig, Lenient};
use crate::budget::{Budget, SCAN_BYTES_PER_UNIT};

/// Bytes of an item parsed per unit of work (serde parses ≈ 5 times slower than the scan).
const PARSE_BYTES_PER_UNIT: usize = 256;

/// The configuration in `text`, or `None` when it must be read by [`super::parse_document`].
pub(crate) async fn parse(text: &str, budget: &Budget) -> Option<Config> {
    let mut w = Walk {
        text,
        pos: 0,
        key_text: "",
    };
    let mut reduced = Reduced::default();
    let mut domains = None;
    let mut apis = None;
    let mut consumers = None;
    w.object_start()?;
    while let Some(key) = w.next_key(reduced.fields == 0)? {
        let key_text = w.key_text;
        match &*key {
            "domains" if domains.is_none() => domains = Some(w.list(budget, Item::Domain).await?),
            "apis" if apis.is_none() => apis = Some(w.list(budget, Item::Api).await?),
            "consumers" if consumers.is_none() => consumers = Some(w.list(budget, Item::Consumer).await?),
            "domains" | "apis" | "consumers" => return None,
            _ => {
                let value = w.value(budget).await?;
                reduced.push(key_text, value);
                continue;
            }
        }
        reduced.push_empty_list(key_text);
    }
    w.ws();
    if w.pos != text.len() {
        return None;
    }
    let mut config: Config = serde_json::from_str(&reduced.finish()).ok()?;
    config.domains = domains
        .unwrap_or_default()
        .into_iter()
        .filter_map(Parsed::domain)
        .collect();
    config.apis = apis
        .unwrap_or_default()
        .into_iter()
        .filter_map(Parsed::api)
        .collect();
    config.consumers = consumers
        .unwrap_or_default()
        .into_iter()
        .filter_map(Parsed::consumer)
        .collect();
    Some(config)
}

/// What a top-level list holds.
#[derive(Clone, Copy)]
enum Item {
    Domain,
    Api,
    Consumer,
}

/// A parsed item of a top-level list.
enum Parsed {
    Domain(DomainConfig),
    Api(ApiConfig),
    Consumer(Lenient<super::ConsumerConfig>),
}

impl Parsed {
    fn domain(self) -> Option<Lenient<DomainConfig>> {
        match self {
            Parsed::Domain(d) => Some(Lenient::Ok(d)),
            _ => None,
        }
    }
    fn api(self) -> Option<Lenient<ApiConfig>> {
        match self {
            Parsed::Api(a) => Some(Lenient::Ok(a)),
            _ => None,
        }
    }
    fn consumer(self) -> Option<Lenient<super::ConsumerConfig>> {
        match self {
            Parsed::Consumer(c) => Some(c),
            _ => None,
        }
    }
}

/// The text of an object without its big lists: its other fields as written, and `"list": []` for each
/// big list.
#[derive(Default)]
struct Reduced {
    text: String,
    fields: usize,
}

impl Reduced {
    fn push(&mut self, key: &str, value: &str) {
        self.text.push(if self.fields == 0 { '{' } else { ',' });
        self.text.push_str(key);
        self.text.push(':');
        self.text.push_str(value);
        self.fields += 1;
    }

    fn push_empty_list(&mut self, key: &str) {
        self.push(key, "[]");
    }

    fn finish(mut self) -> String {
        if self.fields == 0 {
            self.text.push('{');
        }
        self.text.push('}');
        self.text
    }
}

/// A position in the document.
struct Walk<'t> {
    text: &'t str,
    pos: usize,
    /// The text of the last key read, quotes included (valid JSON).
    key_text: &'t str,
}

impl<'t> Walk<'t> {
    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.byte(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.byte() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn object_start(&mut self) -> Option<()> {
        self.eat(b'{').then_some(())
    }

    /// The next key of the object being read (its text is kept in `key_text`), `Some(None)` at its end,
    /// `None` on a syntax error.
    fn next_key(&mut self, first: bool) -> Option<Option<Cow<'t, str>>> {
        if self.eat(b'}') {
            return Some(None);
        }
        if !first && !self.eat(b',') {
            return None;
        }
        self.ws();
        let start = self.pos;
        self.skip_string()?;
        self.key_text = self.text.get(start..self.pos)?;
        if !self.eat(b':') {
            return None;
        }
        let inner = self.key_text.get(1..self.key_text.len() - 1)?;
        let key = if inner.contains('\\') {
            Cow::Owned(serde_json::from_str::<String>(self.key_text).ok()?)
        } else {
            Cow::Borrowed(inner)
        };
        Some(Some(key))
    }

    /// Moves past the string starting here.
    fn skip_string(&mut self) -> Option<()> {
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            return None;
        }
        let mut i = self.pos + 1;
        loop {
            match bytes.get(i)? {
                b'"' => break,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        Some(())
    }

    /// The text of the value starting here (not checked: serde reads it later), one unit of work per
    /// [`SCAN_BYTES_PER_UNIT`] bytes. Its depth is not counted: like [`Lenient`] inside the whole document,
    /// serde reads each item and each reduced object from its own text, so nesting limits apply alike.
    async fn value(&mut self, budget: &Budget) -> Option<&'t str> {
        self.ws();
        let bytes = self.text.as_bytes();
        let start = self.pos;
        match *bytes.get(start)? {
            b'"' => {
                self.skip_string()?;
                budget
                    .spend(((self.pos - start) / SCAN_BYTES_PER_UNIT) as u64)
                    .await;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut i = start;
                let mut paid = start;
                loop {
                    match *bytes.get(i)? {
                        b'"' => {
                            self.pos = i;
                            self.skip_string()?;
                            i = self.pos;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                    if i - paid >= SCAN_BYTES_PER_UNIT {
                        paid = i;
                        budget.spend(1).await;
                    }
                }
                self.pos = i;
            }
            _ => {
                while !matches!(
                    self.byte(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\t' | b'\r')
                ) {
                    self.pos += 1;
                }
            }
        }
        let value = self.text.get(start..self.pos)?;
        (!value.is_empty()).then_some(value)
    }

    /// The elements of the list starting here, each parsed with its big lists walked.
    async fn list(&mut self, budget: &Budget, item: Item) -> Option<Vec<Parsed>> {
        if !self.eat(b'[') {
            return None;
        }
        let mut items = Vec::new();
        if self.eat(b']') {
            return Some(items);
        }
        loop {
            items.push(match item {
                Item::Domain => Parsed::Domain(self.domain(budget).await?),
                Item::Api => Parsed::Api(self.api(budget).await?),
                Item::Consumer => Parsed::Consumer(self.item(budget).await?),
            });
            if self.eat(b']') {
                return Some(items);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// The elements of a list of [`Lenient`] items.
    async fn items<T: DeserializeOwned>(&mut self, budget: &Budget) -> Option<Vec<Lenient<T>>> {
        if !self.eat(b'[') {
            return None;
        }
        let mut items = Vec::new();
        if self.eat(b']') {
            return Some(items);
        }
        loop {
            items.push(self.item(budget).await?);
            if self.eat(b']') {
                return Some(items);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// One [`Lenient`] item, parsed as it is inside the whole document.
    async fn item<T: DeserializeOwned>(&mut self, budget: &Budget) -> Option<Lenient<T>> {
        let text = self.value(budget).await?;
        budget.spend(1 + (text.len() / PARSE_BYTES_PER_UNIT) as u64).await;
        serde_json::from_str(text).ok()
    }

    async fn domain(&mut self, budget: &Budget) -> Option<DomainConfig> {
        let mut reduced = Reduced::default();
        let (mut rules, mut mappings) = (None, None);
        self.object_start()?;
        while let Some(key) = self.next_key(reduced.fields == 0)? {
            let key_text = self.key_text;
            match &*key {
                "routing_rules" if rules.is_none() => rules = Some(self.items(budget).await?),
                "api_mappings" if mappings.is_none() => mappings = Some(self.items(budget).await?),
                "routing_rules" | "api_mappings" => return None,
                _ => {
                    let value = self.value(budget).await?;
                    reduced.push(key_text, value);
                    continue;
                }
            }
            reduced.push_empty_list(key_text);
        }
        budget
            .spend(1 + (reduced.text.len() / PARSE_BYTES_PER_UNIT) as u64)
            .await;
        let mut d: DomainConfig = serde_json::from_str(&reduced.finish()).ok()?;
        d.routing_rules = rules.unwrap_or_default();
        d.api_mappings = mappings.unwrap_or_default();
        Some(d)
    }

    async fn api(&mut self, budget: &Budget) -> Option<ApiConfig> {
        let mut reduced = Reduced::default();
        let (mut routes, mut services) = (None, None);
        self.object_start()?;
        while let Some(key) = self.next_key(reduced.fields == 0)? {
            let key_text = self.key_text;
            match &*key {
                "routes" if routes.is_none() => routes = Some(self.items(budget).await?),
                "services" if services.is_none() => services = Some(self.items(budget).await?),
                "routes" | "services" => return None,
                _ => {
                    let value = self.value(budget).await?;
                    reduced.push(key_text, value);
                    continue;
                }
            }
            reduced.push_empty_list(key_text);
        }
        budget
            .spend(1 + (reduced.text.len() / PARSE_BYTES_PER_UNIT) as u64)
            .await;
        let mut a: ApiConfig = serde_json::from_str(&reduced.finish()).ok()?;
        a.routes = routes.unwrap_or_default();
        a.services = services.unwrap_or_default();
        Some(a)
    }
}
