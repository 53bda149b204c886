//! The pattern syntax, parsed into an [`Ast`]: the part of RE2 / Rust `regex` syntax that routing regexes use.
//!
//! Characters are matched as UTF-8: a literal, `.`, a negated class and `\D` `\W` `\S` consume one whole
//! character. Classes hold ASCII only, and `\d` `\w` `\s` and `(?i)` are ASCII, like APISIX's PCRE without
//! its `u` flag. What is not supported is an error that names it, never a silent different meaning.

use super::{Error, ErrorKind};

/// Deepest nesting of groups and repetitions: the parser and the compiler recurse on it.
pub(super) const MAX_NESTING: usize = 64;
/// Largest `{n}` / `{n,m}` bound (RE2's limit).
pub(super) const MAX_REPEAT: u32 = 1000;
/// Most quantifiers stacked on one atom (`a**?+`): each is a level of the tree the compiler recurses on, and
/// more than one or two never changes what a pattern means.
const MAX_STACKED: usize = 4;
/// Longest pattern, in bytes: parsing and the duplicate-name check grow with it, before any automaton
/// limit can say no.
pub(super) const MAX_PATTERN_BYTES: usize = 4096;

/// One character out of a set: the ASCII characters in `ascii` (bit `b` for byte `b`), and any non-ASCII
/// character when `non_ascii` is set (negated classes, `.`, `\D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Class {
    pub ascii: u128,
    pub non_ascii: bool,
}

impl Class {
    const EMPTY: Class = Class {
        ascii: 0,
        non_ascii: false,
    };

    fn byte(b: u8) -> Class {
        Class {
            ascii: 1u128 << (b & 0x7f),
            non_ascii: false,
        }
    }

    fn range(lo: u8, hi: u8) -> Class {
        let mut ascii = 0u128;
        for b in lo..=hi.min(0x7f) {
            ascii |= 1u128 << b;
        }
        Class {
            ascii,
            non_ascii: false,
        }
    }

    fn union(self, o: Class) -> Class {
        Class {
            ascii: self.ascii | o.ascii,
            non_ascii: self.non_ascii || o.non_ascii,
        }
    }

    fn negate(self) -> Class {
        Class {
            ascii: !self.ascii,
            non_ascii: !self.non_ascii,
        }
    }

    /// Adds the other case of every ASCII letter (`(?i)`).
    fn fold(self) -> Class {
        Class {
            ascii: self.ascii | ((self.ascii & UPPER) << 32) | ((self.ascii & LOWER) >> 32),
            non_ascii: self.non_ascii,
        }
    }
}

/// Bits of `a`..=`z` and of `A`..=`Z`.
const LOWER: u128 = ((1u128 << 26) - 1) << b'a';
const UPPER: u128 = ((1u128 << 26) - 1) << b'A';

/// A parsed pattern.
#[derive(Debug, Clone)]
pub(super) enum Ast {
    Empty,
    Class(Class),
    /// A non-ASCII character, as its UTF-8 bytes.
    Literal(Box<[u8]>),
    Concat(Vec<Ast>),
    Alt(Vec<Ast>),
    Repeat {
        ast: Box<Ast>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
    /// A capturing group (`index` ≥ 1).
    Group {
        index: u32,
        ast: Box<Ast>,
    },
    /// `^`, `\A`: the start of the text.
    Start,
    /// `$`, `\z`: the end of the text (no multi-line mode: a trailing `\n` is not skipped).
    End,
}

#[derive(Clone, Copy)]
struct Flags {
    i: bool,
    s: bool,
}

/// The parse: the tree, the number of capturing groups, and the named ones.
pub(super) struct Parsed {
    pub ast: Ast,
    pub groups: u32,
    pub names: Vec<(Box<str>, u32)>,
}

pub(super) fn parse(pattern: &str, case_insensitive: bool) -> Result<Parsed, Error> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(Error::new(ErrorKind::TooLong, MAX_PATTERN_BYTES));
    }
    let mut p = Parser {
        chars: pattern.char_indices().collect(),
        pos: 0,
        len: pattern.len(),
        groups: 0,
        names: Vec::new(),
    };
    let mut flags = Flags {
        i: case_insensitive,
        s: false,
    };
    let ast = p.alternation(&mut flags, 0)?;
    if let Some(&(at, _)) = p.chars.get(p.pos) {
        // alternation() stops only at `)` or the end.
        return Err(Error::new(ErrorKind::UnopenedGroup, at));
    }
    Ok(Parsed {
        ast,
        groups: p.groups,
        names: p.names,
    })
}

struct Parser {
    chars: Vec<(usize, char)>,
    pos: usize,
    len: usize,
    groups: u32,
    names: Vec<(Box<str>, u32)>,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).map(|&(_, c)| c)
    }

    /// Byte offset of the current character (the pattern's length at the end), for errors.
    fn offset(&self) -> usize {
        self.chars.get(self.pos).map_or(self.len, |&(at, _)| at)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn err<T>(&self, kind: ErrorKind) -> Result<T, Error> {
        Err(Error::new(kind, self.offset()))
    }

    /// `a|b|c` up to a `)` (not consumed) or the end. Flags set inside apply to the rest of the group.
    fn alternation(&mut self, flags: &mut Flags, depth: usize) -> Result<Ast, Error> {
        if depth > MAX_NESTING {
            return self.err(ErrorKind::NestTooDeep);
        }
        let mut branches = vec![self.concat(flags, depth)?];
        while self.eat('|') {
            branches.push(self.concat(flags, depth)?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Ast::Empty)
        } else {
            Ast::Alt(branches)
        })
    }

    fn concat(&mut self, flags: &mut Flags, depth: usize) -> Result<Ast, Error> {
        let mut items: Vec<Ast> = Vec::new();
        while let Some(c) = self.peek() {
            let start = self.offset();
            let atom = match c {
                '|' | ')' => break,
                '(' => {
                    self.pos += 1;
                    match self.group(flags, depth)? {
                        Some(ast) => ast,
                        None => continue, // a flag group `(?i)`: changed `flags`, matches nothing
                    }
                }
                '[' => {
                    self.pos += 1;
                    Ast::Class(self.class(*flags, start)?)
                }
                '.' => {
                    self.pos += 1;
                    let mut c = Class {
                        ascii: u128::MAX,
                        non_ascii: true,
                    };
                    if !flags.s {
                        c.ascii &= !(1u128 << b'\n');
                    }
                    Ast::Class(c)
                }
                '^' => {
                    self.pos += 1;
                    Ast::Start
                }
                '$' => {
                    self.pos += 1;
                    Ast::End
                }
                '\\' => {
                    self.pos += 1;
                    match self.escape(start)? {
                        Escape::Char(c) => literal(c, *flags),
                        Escape::Class(c) => Ast::Class(c),
                        Escape::Start => Ast::Start,
                        Escape::End => Ast::End,
                    }
                }
                '*' | '+' | '?' | '{' => return self.err(ErrorKind::RepetitionMissing),
                c => {
                    self.pos += 1;
                    literal(c, *flags)
                }
            };
            let atom = self.repetitions(atom)?;
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Ast::Empty,
            1 => items.pop().unwrap_or(Ast::Empty),
            _ => Ast::Concat(items),
        })
    }

    /// Any `*` `+` `?` `{n,m}` after an atom, each with an optional lazy `?`.
    fn repetitions(&mut self, mut atom: Ast) -> Result<Ast, Error> {
        // Groups nest at most MAX_NESTING deep (alternation()) and each atom carries at most MAX_STACKED
        // quantifiers, so the tree is at most a few hundred levels deep whatever the pattern.
        let mut stacked = 0;
        loop {
            let at = self.offset();
            let (min, max) = match self.peek() {
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('?') => (0, Some(1)),
                Some('{') => {
                    self.pos += 1;
                    // Leaves the position on the `}`, which the common bump below consumes.
                    self.counted(at)?
                }
                _ => return Ok(atom),
            };
            self.pos += 1;
            stacked += 1;
            if stacked > MAX_STACKED {
                return Err(Error::new(ErrorKind::NestTooDeep, at));
            }
            let greedy = !self.eat('?');
            atom = Ast::Repeat {
                ast: Box::new(atom),
                min,
                max,
                greedy,
            };
        }
    }

    /// The inside of `{n}`, `{n,}` or `{n,m}`, after the `{`; leaves the position on the `}`.
    fn counted(&mut self, open: usize) -> Result<(u32, Option<u32>), Error> {
        let min = self.decimal(open)?;
        let max = if self.eat(',') {
            if self.peek() == Some('}') {
                None
            } else {
                Some(self.decimal(open)?)
            }
        } else {
            Some(min)
        };
        if self.peek() != Some('}') {
            return Err(Error::new(ErrorKind::BadRepetition, open));
        }
        if let Some(max) = max {
            if min > max {
                return Err(Error::new(ErrorKind::RepetitionRange, open));
            }
        }
        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
            return Err(Error::new(ErrorKind::RepetitionTooLarge, open));
        }
        Ok((min, max))
    }

    fn decimal(&mut self, open: usize) -> Result<u32, Error> {
        let mut n: u32 = 0;
        let mut digits = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            self.pos += 1;
            digits += 1;
            n = n.saturating_mul(10).saturating_add(d);
        }
        if digits == 0 {
            return Err(Error::new(ErrorKind::BadRepetition, open));
        }
        Ok(n)
    }

    /// After a `(`: a group, or `None` for a flag setting `(?i)` that applies to the rest of the group.
    fn group(&mut self, flags: &mut Flags, depth: usize) -> Result<Option<Ast>, Error> {
        let open = self.offset().saturating_sub(1);
        let mut inner = *flags;
        let mut index = None;
        if self.eat('?') {
            match self.peek() {
                Some(':') => {
                    self.pos += 1;
                }
                Some('P') if self.peek_at(1) == Some('<') => {
                    self.pos += 2;
                    index = Some(self.group_name(open)?);
                }
                Some('<') if !matches!(self.peek_at(1), Some('=' | '!')) => {
                    self.pos += 1;
                    index = Some(self.group_name(open)?);
                }
                Some('=' | '!' | '<') => return self.err(ErrorKind::LookAround),
                _ => {
                    // Flags: `i`, `s`, `-` to clear, then `)` (rest of this group) or `:` (scoped).
                    let mut negate = false;
                    // A flag was named since the start or since the `-` (`(?)`, `(?i-)` are errors).
                    let mut named = false;
                    let mut seen = 0u8;
                    loop {
                        match self.bump() {
                            Some(f @ ('i' | 's')) => {
                                // Each flag once, as in Rust's `regex` (`(?ii)`, `(?s-s)` are errors).
                                let bit = if f == 'i' { 1 } else { 2 };
                                if seen & bit != 0 {
                                    self.pos -= 1;
                                    return self.err(ErrorKind::BadFlags);
                                }
                                seen |= bit;
                                if f == 'i' {
                                    inner.i = !negate;
                                } else {
                                    inner.s = !negate;
                                }
                                named = true;
                            }
                            Some('-') if !negate => {
                                negate = true;
                                named = false;
                            }
                            Some(')') if named => {
                                *flags = inner;
                                return Ok(None);
                            }
                            Some(':') if named => break,
                            Some(c) if c.is_alphabetic() => {
                                self.pos -= 1;
                                return self.err(ErrorKind::UnsupportedFlag);
                            }
                            None => return Err(Error::new(ErrorKind::UnclosedGroup, open)),
                            Some(_) => {
                                self.pos -= 1;
                                return self.err(ErrorKind::BadFlags);
                            }
                        }
                    }
                }
            }
        } else {
            index = Some(self.next_group(open)?);
        }
        let ast = self.alternation(&mut inner, depth + 1)?;
        if !self.eat(')') {
            return Err(Error::new(ErrorKind::UnclosedGroup, open));
        }
        Ok(Some(match index {
            Some(index) => Ast::Group {
                index,
                ast: Box::new(ast),
            },
            None => ast,
        }))
    }

    fn next_group(&mut self, open: usize) -> Result<u32, Error> {
        self.groups = self
            .groups
            .checked_add(1)
            .ok_or(Error::new(ErrorKind::TooManyGroups, open))?;
        Ok(self.groups)
    }

    /// `name>` of `(?P<name>` / `(?<name>`: letters, digits, `_`, `.`, `[`, `]`, not starting with a digit.
    fn group_name(&mut self, open: usize) -> Result<u32, Error> {
        let start = self.offset();
        let mut name = String::new();
        loop {
            match self.bump() {
                Some('>') => break,
                // As Rust's `regex`: a letter or `_` first, then also digits, `.`, `[`, `]`.
                Some(c)
                    if c.is_ascii_alphabetic()
                        || c == '_'
                        || (!name.is_empty() && (c.is_ascii_digit() || matches!(c, '.' | '[' | ']'))) =>
                {
                    name.push(c)
                }
                Some(_) => {
                    self.pos -= 1;
                    return self.err(ErrorKind::BadGroupName);
                }
                None => return Err(Error::new(ErrorKind::UnclosedGroup, open)),
            }
        }
        if name.is_empty() {
            return Err(Error::new(ErrorKind::BadGroupName, start));
        }
        if self.names.iter().any(|(n, _)| **n == *name) {
            return Err(Error::new(ErrorKind::DuplicateGroupName, start));
        }
        let index = self.next_group(open)?;
        self.names.push((name.into(), index));
        Ok(index)
    }

    /// After a `\` outside a class.
    fn escape(&mut self, start: usize) -> Result<Escape, Error> {
        let Some(c) = self.bump() else {
            return Err(Error::new(ErrorKind::TrailingBackslash, start));
        };
        Ok(match c {
            'A' => Escape::Start,
            'z' => Escape::End,
            'b' | 'B' | '<' | '>' => return Err(Error::new(ErrorKind::WordBoundary, start)),
            'p' | 'P' => return Err(Error::new(ErrorKind::UnicodeClass, start)),
            '1'..='9' | 'k' => return Err(Error::new(ErrorKind::Backreference, start)),
            _ => match self.escape_common(c, start)? {
                Some(e) => e,
                None => return Err(Error::new(ErrorKind::UnknownEscape, start)),
            },
        })
    }

    /// Escapes valid both inside and outside a class.
    fn escape_common(&mut self, c: char, start: usize) -> Result<Option<Escape>, Error> {
        Ok(Some(match c {
            'd' => Escape::Class(DIGIT),
            'D' => Escape::Class(DIGIT.negate()),
            'w' => Escape::Class(WORD),
            'W' => Escape::Class(WORD.negate()),
            's' => Escape::Class(SPACE),
            'S' => Escape::Class(SPACE.negate()),
            'n' => Escape::Char('\n'),
            't' => Escape::Char('\t'),
            'r' => Escape::Char('\r'),
            'f' => Escape::Char('\x0c'),
            'v' => Escape::Char('\x0b'),
            'a' => Escape::Char('\x07'),
            'x' => Escape::Char(self.hex(start)?),
            c if c.is_ascii_punctuation() || c == ' ' => Escape::Char(c),
            _ => return Ok(None),
        }))
    }

    /// `HH` or `{H...}` after `\x`.
    fn hex(&mut self, start: usize) -> Result<char, Error> {
        let mut v: u32 = 0;
        if self.eat('{') {
            let mut digits = 0;
            loop {
                match self.bump() {
                    Some('}') if digits > 0 => break,
                    Some(c) if c.is_ascii_hexdigit() && digits < 8 => {
                        v = v * 16 + c.to_digit(16).unwrap_or(0);
                        digits += 1;
                    }
                    _ => return Err(Error::new(ErrorKind::BadHex, start)),
                }
            }
        } else {
            for _ in 0..2 {
                match self.bump().and_then(|c| c.to_digit(16)) {
                    Some(d) => v = v * 16 + d,
                    None => return Err(Error::new(ErrorKind::BadHex, start)),
                }
            }
        }
        char::from_u32(v).ok_or(Error::new(ErrorKind::BadHex, start))
    }

    /// After a `[`: the class up to its `]`.
    fn class(&mut self, flags: Flags, open: usize) -> Result<Class, Error> {
        let negated = self.eat('^');
        let mut set = Class::EMPTY;
        let mut first = true;
        loop {
            let at = self.offset();
            let Some(c) = self.bump() else {
                return Err(Error::new(ErrorKind::UnclosedClass, open));
            };
            let item = match c {
                ']' if !first => break,
                '[' if self.peek() == Some(':') => self.posix(at, flags.i)?,
                '[' => return Err(Error::new(ErrorKind::NestedClass, at)),
                '&' | '-' | '~' if self.peek() == Some(c) => {
                    return Err(Error::new(ErrorKind::ClassSetOperation, at))
                }
                '\\' => {
                    let Some(e) = self.bump() else {
                        return Err(Error::new(ErrorKind::UnclosedClass, open));
                    };
                    match self.escape_common(e, at)? {
                        // `[\d-z]`: a class cannot bound a range (an error in Rust's `regex` too).
                        Some(Escape::Class(_))
                            if self.peek() == Some('-') && !matches!(self.peek_at(1), Some(']') | None) =>
                        {
                            return Err(Error::new(ErrorKind::BadClassRange, at))
                        }
                        Some(Escape::Class(c)) => c,
                        Some(Escape::Char(c)) => self.range_from(c, at)?,
                        _ => {
                            return Err(Error::new(
                                if matches!(e, 'b' | 'B' | '<' | '>') {
                                    ErrorKind::WordBoundary
                                } else if matches!(e, 'p' | 'P') {
                                    ErrorKind::UnicodeClass
                                } else {
                                    ErrorKind::UnknownEscape
                                },
                                at,
                            ))
                        }
                    }
                }
                c => self.range_from(c, at)?,
            };
            set = set.union(item);
            first = false;
        }
        if flags.i {
            set = set.fold();
        }
        Ok(if negated { set.negate() } else { set })
    }

    /// `c` or the range `c-d` (the `-` and `d` not yet read).
    fn range_from(&mut self, c: char, at: usize) -> Result<Class, Error> {
        let lo = ascii(c, at)?;
        if self.peek() == Some('-') && !matches!(self.peek_at(1), Some(']') | None) {
            if self.peek_at(1) == Some('-') {
                // `[+--]`: Rust's `regex` reads `--` as set difference, not a range ending at `-`.
                return Err(Error::new(ErrorKind::ClassSetOperation, at));
            }
            self.pos += 1;
            let end_at = self.offset();
            let hi = match self.bump() {
                Some('\\') => match self.bump() {
                    Some(e) => match self.escape_common(e, end_at)? {
                        Some(Escape::Char(c)) => ascii(c, end_at)?,
                        _ => return Err(Error::new(ErrorKind::BadClassRange, end_at)),
                    },
                    None => return Err(Error::new(ErrorKind::BadClassRange, end_at)),
                },
                Some('[') => return Err(Error::new(ErrorKind::BadClassRange, end_at)),
                Some(c) => ascii(c, end_at)?,
                None => return Err(Error::new(ErrorKind::BadClassRange, end_at)),
            };
            if hi < lo {
                return Err(Error::new(ErrorKind::BadClassRange, at));
            }
            Ok(Class::range(lo, hi))
        } else {
            Ok(Class::byte(lo))
        }
    }

    /// After `[` when `:` follows: `[:alpha:]` or `[:^alpha:]`.
    fn posix(&mut self, at: usize, fold: bool) -> Result<Class, Error> {
        self.pos += 1; // ':'
        let negated = self.eat('^');
        let mut name = String::new();
        loop {
            match self.bump() {
                Some(':') if self.eat(']') => break,
                Some(c) if c.is_ascii_lowercase() => name.push(c),
                _ => return Err(Error::new(ErrorKind::BadPosixClass, at)),
            }
        }
        let r = |lo: u8, hi: u8| Class::range(lo, hi);
        let class = match name.as_str() {
            "alnum" => r(b'0', b'9').union(r(b'A', b'Z')).union(r(b'a', b'z')),
            "alpha" => r(b'A', b'Z').union(r(b'a', b'z')),
            "ascii" => r(0, 0x7f),
            "blank" => Class::byte(b' ').union(Class::byte(b'\t')),
            "cntrl" => r(0, 0x1f).union(Class::byte(0x7f)),
            "digit" => DIGIT,
            "graph" => r(b'!', b'~'),
            "lower" => r(b'a', b'z'),
            "print" => r(b' ', b'~'),
            "punct" => r(b'!', b'/')
                .union(r(b':', b'@'))
                .union(r(b'[', b'`'))
                .union(r(b'{', b'~')),
            "space" => SPACE,
            "upper" => r(b'A', b'Z'),
            "word" => WORD,
            "xdigit" => r(b'0', b'9').union(r(b'A', b'F')).union(r(b'a', b'f')),
            _ => return Err(Error::new(ErrorKind::BadPosixClass, at)),
        };
        // Folded before its own negation, as Rust's `regex` does: `(?i)[[:^lower:]]` excludes `A-Z` too.
        let class = if fold { class.fold() } else { class };
        // In Unicode mode a negated ASCII class (`[[:^alpha:]]`) matches every other character too.
        Ok(if negated { class.negate() } else { class })
    }
}

enum Escape {
    Char(char),
    Class(Class),
    Start,
    End,
}

const DIGIT: Class = Class {
    ascii: ((1u128 << 10) - 1) << b'0',
    non_ascii: false,
};
const WORD: Class = Class {
    ascii: (((1u128 << 10) - 1) << b'0')
        | (((1u128 << 26) - 1) << b'A')
        | (((1u128 << 26) - 1) << b'a')
        | (1u128 << b'_'),
    non_ascii: false,
};
/// `\t \n \v \f \r` and space.
const SPACE: Class = Class {
    ascii: (0b11111u128 << 9) | (1u128 << b' '),
    non_ascii: false,
};

fn ascii(c: char, at: usize) -> Result<u8, Error> {
    if c.is_ascii() {
        Ok(c as u8)
    } else {
        Err(Error::new(ErrorKind::NonAsciiInClass, at))
    }
}

fn literal(c: char, flags: Flags) -> Ast {
    if c.is_ascii() {
        let class = Class::byte(c as u8);
        Ast::Class(if flags.i { class.fold() } else { class })
    } else {
        let mut buf = [0u8; 4];
        Ast::Literal(c.encode_utf8(&mut buf).as_bytes().into())
    }
}
