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
    channel: Channel,
    /// Normalized: `+31612345678`, or `name@example.org`.
    address: String,
    /// Unix time the user proved they receive codes there (typed one back).
    verified: Option<u64>,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContactError {
    /// Not a phone number in international form (the text as given).
    NotPhone(String),
    /// Not an e-mail address we accept (the text as given), and which part is wrong.
    NotEmail(String, EmailProblem),
    /// A stored address that is valid but not in its normalized form.
    NotNormalized(String),
}

/// What is wrong with an e-mail address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailProblem {
    /// Longer than RFC 5321 allows.
    TooLong,
    /// No `@`.
    NoAt,
    /// Empty, or characters outside the safe set before the `@`.
    LocalPart,
    /// Starts with `-` (a delivery script could take it for an option).
    LeadingDash,
    /// The domain is not a dotted name.
    Domain,
}

impl fmt::Display for EmailProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmailProblem::TooLong => "too long",
            EmailProblem::NoAt => "no @",
            EmailProblem::LocalPart => "unusual characters before the @",
            EmailProblem::LeadingDash => "it starts with '-'",
            EmailProblem::Domain => "the domain must be a name such as example.org",
        })
    }
}

impl fmt::Display for ContactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContactError::NotPhone(text) => write!(
                f,
                "{text:?} is not a phone number in international form such as +31 6 1234 5678"
            ),
            ContactError::NotEmail(text, why) => {
                write!(f, "{text:?} is not an e-mail address: {why}")
            }
            ContactError::NotNormalized(text) => write!(f, "{text:?} is not normalized"),
        }
    }
}

impl std::error::Error for ContactError {}

/// Longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

impl Contact {
    /// How codes travel to it.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The normalized address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Unix time the user proved they receive codes there, if they did.
    pub fn verified(&self) -> Option<u64> {
        self.verified
    }

    /// Records when the user proved they receive codes here (`None`: not yet).
    pub fn set_verified(&mut self, at: Option<u64>) {
        self.verified = at;
    }

    /// A phone number in international form: `+`, country code and number; spaces,
    /// dashes, dots and parentheses between digits are dropped.
    pub fn phone(text: &str) -> Result<Contact, ContactError> {
        let bad = || ContactError::NotPhone(text.to_owned());
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
        let bad = |why| ContactError::NotEmail(text.to_owned(), why);
        let text = text.trim();
        if text.len() > MAX_EMAIL {
            return Err(bad(EmailProblem::TooLong));
        }
        let (local, domain) = text
            .split_once('@')
            .ok_or_else(|| bad(EmailProblem::NoAt))?;
        let safe = |c: char| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '%' | '=' | '~')
        };
        if local.is_empty() || !local.chars().all(safe) {
            return Err(bad(EmailProblem::LocalPart));
        }
        // The delivery script may hand the address to mail(1) or sendmail as an
        // argument: one that starts with '-' would be read as an option.
        if local.starts_with('-') {
            return Err(bad(EmailProblem::LeadingDash));
        }
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !labels_ok {
            return Err(bad(EmailProblem::Domain));
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
            return Err(ContactError::NotNormalized(address.to_owned()));
        }
        Ok(c)
    }

    /// The address as shown at a login prompt: enough to recognise, not to learn.
    /// `+31******78`, `a***@example.org`.
    pub fn masked(&self) -> String {
        match self.channel {
            Channel::Sms => {
                // By characters, not bytes: masking never splits a character.
                let chars: Vec<char> = self.address.chars().collect();
                let n = chars.len();
                let keep_start = 3.min(n);
                let keep_end = 2.min(n - keep_start);
                chars[..keep_start]
                    .iter()
                    .chain(std::iter::repeat_n(&'*', n - keep_start - keep_end))
                    .chain(&chars[n - keep_end..])
                    .collect()
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
            "+31 6 1234 567٨",
        ] {
            assert_eq!(
                Contact::phone(bad),
                Err(ContactError::NotPhone(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn email_addresses_are_checked_and_masked() {
        let c = Contact::email("Alice.B+mfa@Example.ORG").unwrap();
        assert_eq!(c.address, "Alice.B+mfa@example.org");
        assert_eq!(c.masked(), "A***@example.org");
        use EmailProblem::*;
        for (bad, why) in [
            ("alice", NoAt),
            ("alice@", Domain),
            ("@example.org", LocalPart),
            ("alice@localhost", Domain),
            ("alice@example..org", Domain),
            ("a lice@example.org", LocalPart),
            ("alice@exa mple.org", Domain),
            ("\"x\"@example.org", LocalPart),
            ("alice@example.org\nBcc: eve@example.org", Domain),
            ("a;b@example.org", LocalPart),
            ("a`id`@example.org", LocalPart),
            ("-oProxyCommand=x@example.org", LeadingDash),
            ("-f@example.org", LeadingDash),
            ("jörg@example.org", LocalPart),
            ("jorg@exämple.org", Domain),
        ] {
            assert_eq!(
                Contact::email(bad),
                Err(ContactError::NotEmail(bad.to_owned(), why)),
                "{bad:?}"
            );
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert_eq!(
            Contact::email(&long),
            Err(ContactError::NotEmail(long.clone(), TooLong))
        );
    }

    #[test]
    fn masking_counts_characters_not_bytes() {
        // Validation admits only ASCII, but masking must not rely on it: a
        // multi-byte character at a cut point would otherwise panic.
        let c = Contact {
            channel: Channel::Sms,
            address: "+٣١٦١٢٣٤٥٦٧٨".to_owned(),
            verified: None,
        };
        assert_eq!(c.masked(), "+٣١*******٧٨");
        let c = Contact {
            channel: Channel::Email,
            address: "édith@example.org".to_owned(),
            verified: None,
        };
        assert_eq!(c.masked(), "é***@example.org");
        let short = Contact {
            channel: Channel::Sms,
            address: "+é".to_owned(),
            verified: None,
        };
        assert_eq!(short.masked(), "+é");
    }

    #[test]
    fn stored_contacts_must_be_normalized() {
        assert!(Contact::parse(Channel::Sms, "+31612345678").is_ok());
        assert_eq!(
            Contact::parse(Channel::Sms, "+31 6 12345678"),
            Err(ContactError::NotNormalized("+31 6 12345678".into()))
        );
        assert_eq!(
            Contact::parse(Channel::Email, "a@Example.org"),
            Err(ContactError::NotNormalized("a@Example.org".into()))
        );
        assert!(Contact::parse(Channel::Email, "a@example.org").is_ok());
    }
}
