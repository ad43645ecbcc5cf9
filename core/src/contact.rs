//! Where out-of-band codes go: a phone number (SMS) or an e-mail address.
//!
//! Invariant: a [`Contact`] holds a normalized address that passed validation (a
//! phone number is `+` and 6 to 15 digits, an e-mail address has one `@`, a dotted
//! domain and nothing that a delivery script could take for syntax: no whitespace,
//! control characters, quotes or shell metacharacters). Users see it only masked.

use std::fmt;

/// How a code travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    /// The name in records and on the delivery command's input.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    pub fn from_name(name: &str) -> Option<Channel> {
        match name {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A user's registered destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub channel: Channel,
    /// Normalized: `+31612345678`, or `name@example.org`.
    pub address: String,
    /// Unix time the user proved they receive codes there (typed one back).
    pub verified: Option<u64>,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactError(pub String);

impl fmt::Display for ContactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ContactError {}

/// Longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

impl Contact {
    /// A phone number in international form: `+`, country code and number; spaces,
    /// dashes, dots and parentheses between digits are dropped.
    pub fn phone(text: &str) -> Result<Contact, ContactError> {
        let bad = || {
            ContactError(format!(
                "{text:?} is not a phone number in international form such as +31 6 1234 5678"
            ))
        };
        let rest = text.trim().strip_prefix('+').ok_or_else(bad)?;
        let mut digits = String::from("+");
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(bad()),
            }
        }
        // E.164: at most 15 digits; fewer than 6 is no real number.
        if !(7..=16).contains(&digits.len()) || digits.starts_with("+0") {
            return Err(bad());
        }
        Ok(Contact {
            channel: Channel::Sms,
            address: digits,
            verified: None,
        })
    }

    /// An e-mail address `local@domain.tld` (stored lowercased in the domain).
    pub fn email(text: &str) -> Result<Contact, ContactError> {
        let bad = |why: &str| ContactError(format!("{text:?} is not an e-mail address: {why}"));
        let text = text.trim();
        if text.len() > MAX_EMAIL {
            return Err(bad("too long"));
        }
        let (local, domain) = text.split_once('@').ok_or_else(|| bad("no @"))?;
        let safe = |c: char| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '%' | '=' | '~')
        };
        if local.is_empty() || !local.chars().all(safe) {
            return Err(bad("unusual characters before the @"));
        }
        // The delivery script may hand the address to mail(1) or sendmail as an
        // argument: one that starts with '-' would be read as an option.
        if local.starts_with('-') {
            return Err(bad("it starts with '-'"));
        }
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !labels_ok {
            return Err(bad("the domain must be a name such as example.org"));
        }
        Ok(Contact {
            channel: Channel::Email,
            address: format!("{local}@{}", domain.to_ascii_lowercase()),
            verified: None,
        })
    }

    /// A stored contact, re-validated.
    pub fn parse(channel: Channel, address: &str) -> Result<Contact, ContactError> {
        let c = match channel {
            Channel::Sms => Contact::phone(address)?,
            Channel::Email => Contact::email(address)?,
        };
        if c.address != address {
            return Err(ContactError(format!("{address:?} is not normalized")));
        }
        Ok(c)
    }

    /// The address as shown at a login prompt: enough to recognise, not to learn.
    /// `+31******78`, `a***@example.org`.
    pub fn masked(&self) -> String {
        match self.channel {
            Channel::Sms => {
                let n = self.address.len();
                let keep_start = 3.min(n);
                let keep_end = 2.min(n - keep_start);
                format!(
                    "{}{}{}",
                    &self.address[..keep_start],
                    "*".repeat(n - keep_start - keep_end),
                    &self.address[n - keep_end..]
                )
            }
            Channel::Email => {
                let (local, domain) = self.address.split_once('@').unwrap_or(("", ""));
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalized_or_refused() {
        let c = Contact::phone(" +31 (6) 1234-5678 ").unwrap();
        assert_eq!(c.address, "+31612345678");
        assert_eq!(c.channel, Channel::Sms);
        assert_eq!(c.masked(), "+31*******78");
        for bad in [
            "0612345678",
            "+31 6 1234 5678; rm -rf /",
            "+",
            "+12345",
            "+1234567890123456",
            "+0612345678",
            "+31\n6",
            "+31 6 $(id)",
        ] {
            assert!(Contact::phone(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn email_addresses_are_checked_and_masked() {
        let c = Contact::email("Alice.B+mfa@Example.ORG").unwrap();
        assert_eq!(c.address, "Alice.B+mfa@example.org");
        assert_eq!(c.masked(), "A***@example.org");
        for bad in [
            "alice",
            "alice@",
            "@example.org",
            "alice@localhost",
            "alice@example..org",
            "a lice@example.org",
            "alice@exa mple.org",
            "\"x\"@example.org",
            "alice@example.org\nBcc: eve@example.org",
            "a;b@example.org",
            "a`id`@example.org",
            "-oProxyCommand=x@example.org",
            "-f@example.org",
        ] {
            assert!(Contact::email(bad).is_err(), "{bad:?}");
        }
        assert!(Contact::email(&format!("{}@example.org", "a".repeat(250))).is_err());
    }

    #[test]
    fn stored_contacts_must_be_normalized() {
        assert!(Contact::parse(Channel::Sms, "+31612345678").is_ok());
        assert!(Contact::parse(Channel::Sms, "+31 6 12345678").is_err());
        assert!(Contact::parse(Channel::Email, "a@Example.org").is_err());
        assert!(Contact::parse(Channel::Email, "a@example.org").is_ok());
    }
}
