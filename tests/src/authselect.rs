//! authselect's template language, for the profile the RPM ships
//! (packaging/authselect/pam_mfa): renders a file as `authselect select pam_mfa
//! FEATURES` would, so tests can run the PAM stack it makes. authselect is not
//! packaged for Debian 12; this follows authselect-profiles(5) for the operators
//! our files use, and refuses any other (a typo is a test failure, not a line
//! silently kept).

use std::fs;
use std::path::PathBuf;

/// The directory of the shipped profile.
pub fn profile_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../packaging/authselect/pam_mfa")
}

/// One file of the shipped profile, as written.
pub fn profile_file(name: &str) -> String {
    fs::read_to_string(profile_dir().join(name)).unwrap()
}

/// Every feature name a template mentions (`"with-..."`, `"without-..."`).
pub fn features_in(template: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for op in operators(template) {
        let mut rest = op.as_str();
        while let Some(start) = rest.find('"') {
            let Some(len) = rest[start + 1..].find('"') else {
                break;
            };
            let name = &rest[start + 1..start + 1 + len];
            if !out.iter().any(|f| f == name) {
                out.push(name.to_owned());
            }
            rest = &rest[start + len + 2..];
        }
    }
    out
}

/// The text between `{` and `}` of every operator.
fn operators(template: &str) -> Vec<String> {
    let mut out = vec![];
    for line in template.lines() {
        let mut rest = line;
        while let Some(start) = rest.find('{') {
            let end = rest[start..]
                .find('}')
                .unwrap_or_else(|| panic!("unclosed operator in {line:?}"));
            out.push(rest[start + 1..start + end].to_owned());
            rest = &rest[start + end + 1..];
        }
    }
    out
}

/// `"feature"` or `not "feature"`.
fn holds(expr: &str, features: &[&str]) -> bool {
    let expr = expr.trim();
    if let Some(inner) = expr.strip_prefix("not ") {
        return !holds(inner, features);
    }
    let name = expr
        .strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .filter(|n| !n.is_empty() && !n.contains(['"', '{', '}', '|']))
        .unwrap_or_else(|| panic!("expression {expr:?}: expected \"feature\" or not \"feature\""));
    features.contains(&name)
}

/// The file as authselect writes it with `features` selected.
pub fn render(template: &str, features: &[&str]) -> String {
    let mut out = String::new();
    for line in template.lines() {
        let mut kept = String::new();
        let mut keep = true;
        let mut rest = line;
        while let Some(start) = rest.find('{') {
            kept.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .unwrap_or_else(|| panic!("unclosed operator in {line:?}"));
            let op = &rest[start + 1..start + end];
            rest = &rest[start + end + 1..];
            if let Some(expr) = op.strip_prefix("include if ") {
                keep &= holds(expr, features);
            } else if let Some(expr) = op.strip_prefix("exclude if ") {
                keep &= !holds(expr, features);
            } else if let Some(body) = op.strip_prefix("if ") {
                let (expr, values) = body
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{op:?}: expected if EXPR:TRUE|FALSE"));
                let (yes, no) = values.split_once('|').unwrap_or((values, ""));
                assert!(!no.contains('|'), "{op:?}: more than two values");
                kept.push_str(if holds(expr, features) { yes } else { no });
            } else {
                panic!("operator {op:?} is not one our profile uses");
            }
        }
        kept.push_str(rest);
        assert!(!kept.contains('}'), "stray brace in {line:?}");
        if keep {
            out.push_str(kept.trim_end());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operators_render_as_the_man_page_says() {
        let t =
            "a {include if \"x\"}\nb {exclude if \"x\"}\nc {if \"x\":yes|no} {if not \"y\":z}\n";
        assert_eq!(render(t, &["x"]), "a\nc yes z\n");
        assert_eq!(render(t, &["y"]), "b\nc no\n");
        assert_eq!(features_in(t), ["x", "y"]);
    }

    #[test]
    #[should_panic(expected = "not one our profile uses")]
    fn an_unknown_operator_is_refused() {
        render("a {continue if \"x\"}\n", &[]);
    }
}
