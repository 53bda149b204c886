//! A tiny reader that turns the fuzzer's bytes into structured choices. Past the end every read is 0 (or
//! empty), so that any input, even an empty one, decodes to something, and small inputs mean small cases.

/// The fuzzer's bytes, read front to back.
#[derive(Debug, Clone)]
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes { data }
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, i| acc | (u64::from(self.u8()) << (8 * i)))
    }

    /// A boolean (lowest bit of the next byte).
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.u8()) % n.max(1)
    }

    /// One item of `items` (non-empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len());
        items[i]
    }

    /// A length-prefixed byte string (one length byte, at most 255 bytes).
    pub fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8()).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// Bytes up to (not including) the next `sep`, or to the end.
    pub fn until(&mut self, sep: u8) -> &'a [u8] {
        match self.data.iter().position(|b| *b == sep) {
            Some(i) => {
                let (head, rest) = self.data.split_at(i);
                self.data = &rest[1..];
                head
            }
            None => self.rest(),
        }
    }
}

/// Text from bytes (Envoy hands the filter text only after a lossy conversion).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
