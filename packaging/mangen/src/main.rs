//! Writes the man pages into a directory:
//! - mfa-token(1) and one page per subcommand, rendered from the same clap
//!   definition the binary parses, so `--help` and the man page cannot drift;
//! - pam_mfa.toml(5), rendered from conf/config.toml, the documented example config
//!   whose defaults a unit test checks against the code;
//! - pam_mfa(8) and pam_mfad(8), from packaging/man/*.8.in with the version
//!   filled in.
//!
//! Usage: pam_mfa-mangen OUT_DIR

#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use mfa_core::config::keys::{self, Kind};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// mfa-token.1 and mfa-token-<sub>[-<subsub>].1.
fn cli_pages(out: &Path) -> std::io::Result<Vec<String>> {
    let mut written = vec![];
    let cmd = mfa_token::cli::Cli::command().version(VERSION);
    // (page name, how the command is typed, its definition)
    let mut stack = vec![("mfa-token".to_owned(), "mfa-token".to_owned(), cmd)];
    while let Some((name, typed, cmd)) = stack.pop() {
        let cmd = cmd.name(name.clone()).bin_name(typed.clone());
        for sub in cmd.get_subcommands() {
            if sub.get_name() != "help" {
                stack.push((
                    format!("{name}-{}", sub.get_name()),
                    format!("{typed} {}", sub.get_name()),
                    sub.clone(),
                ));
            }
        }
        let mut buf = vec![];
        clap_mangen::Man::new(cmd)
            .section("1")
            .source(format!("pam_mfa {VERSION}"))
            .manual("pam_mfa")
            .render(&mut buf)?;
        let file = format!("{name}.1");
        fs::write(out.join(&file), buf)?;
        written.push(file);
    }
    Ok(written)
}

/// Escapes text for roff: backslashes, and a leading dot or quote.
fn roff(text: &str) -> String {
    let t = text
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('"', "\\(dq");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// What the key table says of a key: its type and range, and its default.
fn key_facts(name: &str) -> Option<String> {
    let key = keys::find(name)?;
    let kind = match key.kind {
        Kind::Int { min, max } => format!("integer, {min} to {max}"),
        Kind::Bool => "true or false".to_owned(),
        Kind::Text { max_len } => format!("text, 1 to {max_len} bytes"),
        Kind::Path => "absolute path".to_owned(),
        Kind::Choice(words) => format!(
            "one of {}",
            words
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::Strings => "array of strings".to_owned(),
        Kind::Networks => "array of CIDR blocks".to_owned(),
        Kind::Date => "date".to_owned(),
    };
    Some(match key.default {
        Some(d) => format!("{kind}; default: {d}"),
        None => format!("{kind}; unset by default"),
    })
}

/// pam_mfa.toml.5 from the comments and keys of conf/config.toml, with each key's
/// type, range and default from the key table.
fn config_page(config: &str) -> String {
    let mut page = format!(
        ".TH PAM_MFA.TOML 5 \"\" \"pam_mfa {VERSION}\" \"pam_mfa\"\n.SH NAME\npam_mfa.toml \\- configuration of pam_mfa and mfa\\-token\n.SH SYNOPSIS\n/etc/pam_mfa/config.toml\n.SH DESCRIPTION\n"
    );
    let mut pending: Vec<String> = vec![];
    let mut in_header = true;
    let mut section = String::new();
    let flush = |pending: &mut Vec<String>| {
        pending
            .drain(..)
            .map(|l| roff(&l))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for line in config.lines() {
        let trimmed = line.trim();
        // A key, set (`key = value`) or shown commented out (`#key = value`).
        let key_line = trimmed
            .strip_prefix('#')
            .unwrap_or(trimmed)
            .split_once(" = ")
            .filter(|(k, _)| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
            });
        if let Some((key, rest)) = key_line {
            let (value, note) = match rest.split_once('#') {
                Some((v, n)) => (v.trim(), Some(n.trim())),
                None => (rest.trim(), None),
            };
            let set = !trimmed.starts_with('#');
            let facts = key_facts(&format!("{section}.{key}"));
            if set {
                page.push_str(&format!(".TP\n.B {} = {}\n", roff(key), roff(value)));
            } else {
                page.push_str(&format!(".TP\n.B {}\n", roff(key)));
            }
            match (&facts, set) {
                (Some(f), true) => page.push_str(&format!("({})\n", roff(f))),
                (Some(f), false) if f.ends_with("unset by default") => {
                    page.push_str(&format!("({}; example: {})\n", roff(f), roff(value)))
                }
                (Some(f), false) => page.push_str(&format!("({})\n", roff(f))),
                (None, _) => {}
            }
            if let Some(n) = note {
                page.push_str(&format!("({})\n", roff(n)));
            }
            page.push_str(&flush(&mut pending));
            page.push('\n');
        } else if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            if in_header && comment.starts_with("/etc/pam_mfa/config.toml:") {
                continue;
            }
            pending.push(comment.to_owned());
        } else if trimmed.is_empty() {
            if in_header && !pending.is_empty() {
                page.push_str(&flush(&mut pending));
                page.push_str("\n.PP\n");
            }
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            in_header = false;
            section = name.to_owned();
            page.push_str(&format!(".SH [{}]\n", roff(name)));
            if !pending.is_empty() {
                page.push_str(&flush(&mut pending));
                page.push('\n');
            }
        }
    }
    page.push_str(".SH SEE ALSO\n.BR pam_mfa (8),\n.BR pam_mfad (8),\n.BR mfa\\-token (1)\n");
    page
}

fn main() -> std::io::Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or_else(|| std::io::Error::other("usage: pam_mfa-mangen OUT_DIR"))?;
    fs::create_dir_all(&out)?;
    let mut written = cli_pages(&out)?;
    let config = fs::read_to_string(repo().join("conf/config.toml"))?;
    fs::write(out.join("pam_mfa.toml.5"), config_page(&config))?;
    written.push("pam_mfa.toml.5".into());
    for page in ["pam_mfa.8", "pam_mfad.8"] {
        let source = fs::read_to_string(repo().join(format!("packaging/man/{page}.in")))?;
        fs::write(out.join(page), source.replace("@VERSION@", VERSION))?;
        written.push(page.into());
    }
    written.sort();
    for f in written {
        println!("{}", out.join(f).display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_the_table_is_in_its_section_of_the_config_page() {
        let config = fs::read_to_string(repo().join("conf/config.toml")).unwrap();
        let page = config_page(&config);
        for key in keys::KEYS {
            let start = page
                .find(&format!(".SH [{}]\n", key.section()))
                .unwrap_or_else(|| panic!("no section for {}", key.name));
            let end = page[start + 4..]
                .find(".SH ")
                .map_or(page.len(), |e| start + 4 + e);
            let short = key.name.split_once('.').unwrap().1;
            let facts = key_facts(key.name).unwrap();
            assert!(
                page[start..end].contains(&format!(".B {}", roff(short)))
                    && page[start..end].contains(&roff(&facts)),
                "{} ({facts}) missing from its section:\n{}",
                key.name,
                &page[start..end]
            );
        }
        assert!(page.contains(".SH [prompt]"));
        assert!(page.contains("integer, 1 to 60; default: 3"), "{page}");
        assert!(
            page.contains("absolute path; unset by default; example:"),
            "{page}"
        );
    }

    #[test]
    fn the_module_page_documents_the_arguments_and_codes() {
        let page = fs::read_to_string(repo().join("packaging/man/pam_mfa.8.in")).unwrap();
        for needle in [
            "socket=",
            "pam_mfad",
            "debug",
            "require_key",
            "combined",
            "use_first_pass",
            "PAM_PERM_DENIED",
            "security key",
            "PAM_SUCCESS",
            "PAM_AUTH_ERR",
            "PAM_IGNORE",
            "PAM_SERVICE_ERR",
            "PAM_AUTHINFO_UNAVAIL",
            "PAM_CONV_ERR",
            "pam_fail_delay",
            "/etc/default/locale",
        ] {
            assert!(page.contains(needle), "pam_mfa.8 lacks {needle}");
        }
    }

    #[test]
    fn the_daemon_page_documents_options_signals_and_failure_modes() {
        let page = fs::read_to_string(repo().join("packaging/man/pam_mfad.8.in")).unwrap();
        for needle in [
            ".SH SYNOPSIS",
            "\\-\\-config",
            "\\-\\-socket",
            ".SH SOCKET ACTIVATION",
            "LISTEN_FDS",
            "pam_mfad.socket",
            ".SH SIGNALS",
            ".B SIGHUP",
            "SIGTERM",
            ".SH SECURITY",
            "SO_PEERCRED",
            "canonical name",
            ".SH FAILURE MODES",
            "PAM_AUTHINFO_UNAVAIL within a second",
            "previous configuration stays in force",
            "refuses to start",
            ".SH WITHOUT SYSTEMD",
            ".SH FILES",
            "/run/pam_mfa/socket",
            ".SH SEE ALSO",
            ".BR pam_mfa (8)",
        ] {
            assert!(page.contains(needle), "pam_mfad.8 lacks {needle}");
        }
        // The figures the page states are the daemon's own constants.
        let server = fs::read_to_string(repo().join("daemon/src/server.rs")).unwrap();
        // The bounds of a login's conversation (session.rs, conversation.rs).
        let session = ["daemon/src/session.rs", "daemon/src/conversation.rs"]
            .map(|f| fs::read_to_string(repo().join(f)).unwrap())
            .join("\n");
        let per_uid = constant(&server, "PER_UID");
        let total = constant(&server, "TOTAL");
        let reserve = constant(&server, "ROOT_RESERVE");
        let text = page.split_whitespace().collect::<Vec<_>>().join(" ");
        for phrase in [
            format!("may hold at most {per_uid} connections"),
            format!("all users together at most {}", total - reserve),
            format!("{reserve} more are kept for root"),
            format!("for at most {} seconds", constant(&server, "DRAIN")),
            format!(
                "{} seconds for the first request",
                constant(&session, "FIRST_REQUEST")
            ),
            format!("{} seconds for an answer", constant(&session, "ANSWER")),
            format!("{} seconds for a write", constant(&session, "WRITE")),
        ] {
            assert!(text.contains(&phrase), "pam_mfad.8 lacks {phrase:?}");
        }
    }

    /// The number a `const NAME: ... = ...;` line of the daemon's source sets (its
    /// first run of digits after the `=`).
    fn constant(source: &str, name: &str) -> u64 {
        let line = source
            .lines()
            .find(|l| l.contains(&format!("const {name}:")))
            .unwrap_or_else(|| panic!("no const {name} in the daemon"));
        let value = line.split_once('=').unwrap().1;
        let digits: String = value
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit() || *c == '_')
            .filter(|c| *c != '_')
            .collect();
        digits.parse().unwrap_or_else(|_| panic!("{line}"))
    }

    #[test]
    fn every_subcommand_gets_a_page() {
        let dir = std::env::temp_dir().join(format!("mangen-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let pages = cli_pages(&dir).unwrap();
        for want in [
            "mfa-token.1",
            "mfa-token-enroll-totp.1",
            "mfa-token-enroll-hotp.1",
            "mfa-token-resync.1",
            "mfa-token-import-google-authenticator.1",
            "mfa-token-status.1",
            "mfa-token-unlock.1",
        ] {
            assert!(pages.iter().any(|p| p == want), "{want} in {pages:?}");
        }
        let enroll = fs::read_to_string(dir.join("mfa-token-enroll-totp.1")).unwrap();
        assert!(
            enroll.contains("\\-\\-png")
                && enroll.contains("\\-\\-no\\-confirm")
                && enroll.contains("\\-\\-name"),
            "{enroll}"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
