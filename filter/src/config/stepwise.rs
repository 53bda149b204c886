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
    let top = Walk::new(text)
        .object(budget, &["domains", "apis", "consumers"])
        .await?;
    let mut config: Config = serde_json::from_str(&top.reduced).ok()?;
    let mut lists = top.lists.into_iter();
    let (domains, apis, consumers) = (lists.next()?, lists.next()?, lists.next()?);
    for domain in domains.unwrap_or_default() {
        let w = Walk::new(domain)
            .object(budget, &["routing_rules", "api_mappings"])
            .await?;
        budget
            .spend(1 + (w.reduced.len() / PARSE_BYTES_PER_UNIT) as u64)
            .await;
        let mut d: DomainConfig = serde_json::from_str(&w.reduced).ok()?;
        let mut lists = w.lists.into_iter();
        let (rules, mappings) = (lists.next()?, lists.next()?);
        d.routing_rules = items(rules, budget).await?;
        d.api_mappings = items(mappings, budget).await?;
        config.domains.push(Lenient::Ok(d));
    }
    for api in apis.unwrap_or_default() {
        let w = Walk::new(api).object(budget, &["routes", "services"]).await?;
        budget
            .spend(1 + (w.reduced.len() / PARSE_BYTES_PER_UNIT) as u64)
            .await;
        let mut a: ApiConfig = serde_json::from_str(&w.reduced).ok()?;
        let mut lists = w.lists.into_iter();
        let (routes, services) = (lists.next()?, lists.next()?);
        a.routes = items(routes, budget).await?;
        a.services = items(services, budget).await?;
        config.apis.push(Lenient::Ok(a));
    }
    config.consumers = items(consumers, budget).await?;
    Some(config)
}

/// Each item of a big list parsed on its own, as [`Lenient`] parses it inside the whole document.
async fn items<T: DeserializeOwned>(spans: Option<Vec<&str>>, budget: &Budget) -> Option<Vec<Lenient<T>>> {
    let spans = spans.unwrap_or_default();
    let mut items = Vec::with_capacity(spans.len());
    for text in spans {
        budget.spend(1 + (text.len() / PARSE_BYTES_PER_UNIT) as u64).await;
        items.push(serde_json::from_str(text).ok()?);
    }
    Some(items)
}

/// An object read by [`Walk::object`]: the text of its fields but the big lists (`"list": []` in place of
/// each big list present), and the items of each big list as written.
struct Walked<'t> {
    reduced: String,
    lists: Vec<Option<Vec<&'t str>>>,
}

/// A position in the document.
struct Walk<'t> {
    text: &'t str,
    pos: usize,
    /// Where the scanned text was last paid for (one unit per [`SCAN_BYTES_PER_UNIT`] bytes, whatever the
    /// sizes of the values: 25,000 small rules are 5 MB to scan too).
    paid: usize,
}

impl<'t> Walk<'t> {
    fn new(text: &'t str) -> Walk<'t> {
        Walk {
            text,
            pos: 0,
            paid: 0,
        }
    }

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

    /// The whole text as one object whose lists named in `big` are taken out; `None` on anything unusual
    /// (a duplicate big list, a big list that is not a list, a syntax error, text after the object).
    async fn object(mut self, budget: &Budget, big: &[&str]) -> Option<Walked<'t>> {
        let mut reduced = String::from("{");
        let mut lists: Vec<Option<Vec<&'t str>>> = vec![None; big.len()];
        if !self.eat(b'{') {
            return None;
        }
        let mut first = true;
        while !self.eat(b'}') {
            if !first && !self.eat(b',') {
                return None;
            }
            self.ws();
            let start = self.pos;
            self.skip_string()?;
            let key_text = self.text.get(start..self.pos)?;
            if !self.eat(b':') {
                return None;
            }
            let inner = key_text.get(1..key_text.len() - 1)?;
            let key: Cow<'_, str> = if inner.contains('\\') {
                Cow::Owned(serde_json::from_str::<String>(key_text).ok()?)
            } else {
                Cow::Borrowed(inner)
            };
            if !first {
                reduced.push(',');
            }
            first = false;
            reduced.push_str(key_text);
            reduced.push(':');
            match big.iter().position(|b| *b == key) {
                Some(i) => {
                    let slot = lists.get_mut(i)?;
                    if slot.is_some() {
                        return None;
                    }
                    *slot = Some(self.elements(budget).await?);
                    reduced.push_str("[]");
                }
                None => reduced.push_str(self.value(budget).await?),
            }
        }
        self.ws();
        if self.pos != self.text.len() {
            return None;
        }
        reduced.push('}');
        Some(Walked { reduced, lists })
    }

    /// The texts of the elements of the list starting here.
    async fn elements(&mut self, budget: &Budget) -> Option<Vec<&'t str>> {
        if !self.eat(b'[') {
            return None;
        }
        let mut items = Vec::new();
        if self.eat(b']') {
            return Some(items);
        }
        loop {
            items.push(self.value(budget).await?);
            if self.eat(b']') {
                return Some(items);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// Pays for the text scanned up to the position, a unit per [`SCAN_BYTES_PER_UNIT`] bytes.
    async fn pay(&mut self, budget: &Budget) {
        while self.pos.saturating_sub(self.paid) >= SCAN_BYTES_PER_UNIT {
            self.paid += SCAN_BYTES_PER_UNIT;
            budget.spend(1).await;
        }
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
            b'"' => self.skip_string()?,
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut i = start;
                loop {
                    match *bytes.get(i)? {
                        b'"' => {
                            self.pos = i;
                            self.skip_string()?;
                            i = self.pos;
                            if i - self.paid >= SCAN_BYTES_PER_UNIT {
                                self.pay(budget).await;
                            }
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
                    if i - self.paid >= SCAN_BYTES_PER_UNIT {
                        self.pos = i;
                        self.pay(budget).await;
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
        self.pay(budget).await;
        let value = self.text.get(start..self.pos)?;
        (!value.is_empty()).then_some(value)
    }
}
