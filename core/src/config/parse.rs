//! Walking a TOML document key by key, so that every error names file, line and key.
//!
//! Invariant: a value reaches the caller only after its type and range were checked;
//! every key the caller does not claim is an error, never silently ignored.

use std::ops::{Range, RangeInclusive};
use std::path::Path;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::keys::{Kind, Value};
use super::ConfigError;
use crate::network::Cidr;

/// A parsed document plus what is needed to turn byte spans into line numbers.
pub(crate) struct Doc<'a> {
    pub(crate) file: &'a Path,
    pub(crate) src: &'a str,
}

impl Doc<'_> {
    /// The 1-based line of a byte offset.
    pub(crate) fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.src.len());
        self.src.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub(crate) fn invalid(&self, span: &Range<usize>, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line: self.line(span),
            key: key.to_owned(),
            message,
        }
    }

    pub(crate) fn syntax(&self, e: &toml::de::Error) -> ConfigError {
        ConfigError::Syntax {
            file: self.file.to_owned(),
            line: e.span().map_or(1, |s| self.line(&s)),
            message: e.message().trim_end().to_owned(),
        }
    }
}

/// One value of the document with its dotted key, e.g. `lockout.max_failures`.
pub(crate) struct Entry<'d, 'i> {
    pub(crate) doc: &'d Doc<'d>,
    pub(crate) key: String,
    pub(crate) key_span: Range<usize>,
    pub(crate) value: &'d Spanned<DeValue<'i>>,
}

impl<'d, 'i> Entry<'d, 'i> {
    pub(crate) fn invalid(&self, message: String) -> ConfigError {
        self.doc.invalid(&self.value.span(), &self.key, message)
    }

    /// The error for a key nobody claimed.
    pub(crate) fn unknown(&self) -> ConfigError {
        self.doc
            .invalid(&self.key_span, &self.key, "unknown key".to_owned())
    }

    /// The entries of a table value; `f` is called once per entry.
    pub(crate) fn table(
        &self,
        mut f: impl FnMut(Entry<'d, 'i>) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        match self.value.get_ref() {
            DeValue::Table(t) => for_each(self.doc, Some(&self.key), t, &mut f),
            other => Err(self.invalid(format!("expected a table, found {}", other.type_str()))),
        }
    }

    pub(crate) fn string(&self) -> Result<&'d str, ConfigError> {
        self.value.get_ref().as_str().ok_or_else(|| {
            self.invalid(format!(
                "expected a string, found {}",
                self.value.get_ref().type_str()
            ))
        })
    }

    /// A non-empty string of printable characters.
    pub(crate) fn text(&self, max_len: usize) -> Result<String, ConfigError> {
        let s = self.string()?;
        if s.is_empty() || s.len() > max_len || s.chars().any(char::is_control) {
            return Err(self.invalid(format!("expected 1 to {max_len} printable characters")));
        }
        Ok(s.to_owned())
    }

    /// An absolute path.
    pub(crate) fn abs_path(&self) -> Result<std::path::PathBuf, ConfigError> {
        let s = self.string()?;
        let p = Path::new(s);
        if !p.is_absolute() || s.contains('\0') {
            return Err(self.invalid(format!("expected an absolute path, found {s:?}")));
        }
        Ok(p.to_owned())
    }

    pub(crate) fn bool(&self) -> Result<bool, ConfigError> {
        self.value.get_ref().as_bool().ok_or_else(|| {
            self.invalid(format!(
                "expected true or false, found {}",
                self.value.get_ref().type_str()
            ))
        })
    }

    /// An array of non-empty strings without control characters.
    pub(crate) fn strings(&self) -> Result<Vec<String>, ConfigError> {
        let DeValue::Array(items) = self.value.get_ref() else {
            return Err(self.invalid(format!(
                "expected an array of strings, found {}",
                self.value.get_ref().type_str()
            )));
        };
        items
            .iter()
            .map(|item| match item.get_ref().as_str() {
                Some(s) if !s.is_empty() && !s.chars().any(char::is_control) => Ok(s.to_owned()),
                _ => Err(self.doc.invalid(
                    &item.span(),
                    &self.key,
                    "expected a non-empty string".to_owned(),
                )),
            })
            .collect()
    }

    /// An array of strings, each read by `read`; its error is reported at the
    /// item's own line (a list spread over many lines).
    pub(crate) fn list<T>(
        &self,
        read: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ConfigError> {
        let texts = self.strings()?;
        let DeValue::Array(items) = self.value.get_ref() else {
            return Ok(Vec::new());
        };
        texts
            .iter()
            .zip(items.iter())
            .map(|(text, item)| {
                read(text).map_err(|why| self.doc.invalid(&item.span(), &self.key, why))
            })
            .collect()
    }

    /// An integer within `range`.
    pub(crate) fn int<T>(&self, range: RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: TryFrom<i64> + PartialOrd + std::fmt::Display + Copy,
    {
        let out_of_range = || {
            self.invalid(format!(
                "expected an integer from {} to {}",
                range.start(),
                range.end()
            ))
        };
        let DeValue::Integer(i) = self.value.get_ref() else {
            return Err(self.invalid(format!(
                "expected an integer, found {}",
                self.value.get_ref().type_str()
            )));
        };
        let n = i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| out_of_range())?;
        let n = T::try_from(n).map_err(|_| out_of_range())?;
        if !range.contains(&n) {
            return Err(out_of_range());
        }
        Ok(n)
    }

    /// A TOML date (`2027-03-31`, no time): the unix time at which that day ends in
    /// UTC, and the date as written.
    pub(crate) fn date_end(&self) -> Result<(u64, String), ConfigError> {
        let bad = || self.invalid("expected a date such as 2027-03-31 (no quotes, no time)".into());
        let DeValue::Datetime(dt) = self.value.get_ref() else {
            return Err(bad());
        };
        let (Some(d), None, None) = (dt.date, dt.time, dt.offset) else {
            return Err(bad());
        };
        let days = days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day));
        let end = u64::try_from((days + 1) * 86_400).map_err(|_| bad())?;
        Ok((end, d.to_string()))
    }

    /// One of a fixed set of words.
    pub(crate) fn word(&self, words: &'static [&'static str]) -> Result<&'static str, ConfigError> {
        let s = self.string()?;
        words
            .iter()
            .find(|w| **w == s)
            .copied()
            .ok_or_else(|| self.invalid(format!("expected one of {}, found {s:?}", quoted(words))))
    }

    /// The value, read and checked as `kind`.
    pub(crate) fn read(&self, kind: Kind) -> Result<Value, ConfigError> {
        Ok(match kind {
            Kind::Int { min, max } => Value::Int(self.int(min..=max)?),
            Kind::Bool => Value::Bool(self.bool()?),
            Kind::Text { max_len } => Value::Text(self.text(max_len)?),
            Kind::Path => Value::Path(self.abs_path()?),
            Kind::Choice(words) => Value::Word(self.word(words)?),
            Kind::Strings => Value::Strings(self.strings()?),
            Kind::Networks => Value::Networks(self.list(Cidr::parse)?),
            Kind::Date => {
                let (end, text) = self.date_end()?;
                Value::Date(end, text)
            }
        })
    }
}

fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("{w:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Calls `f` for every entry of `table`, with keys prefixed by `prefix.`.
pub(crate) fn for_each<'d, 'i>(
    doc: &'d Doc<'d>,
    prefix: Option<&str>,
    table: &'d DeTable<'i>,
    f: &mut impl FnMut(Entry<'d, 'i>) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    // Report problems in file order, not hash order.
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (k, v) in entries {
        let key = match prefix {
            Some(p) => format!("{p}.{}", k.get_ref()),
            None => k.get_ref().to_string(),
        };
        f(Entry {
            doc,
            key,
            key_span: k.span(),
            value: v,
        })?;
    }
    Ok(())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
