//! The Debian packages the suites need, read from the two places that name them: the
//! `require("tool", "package")` calls in the harness and the suites, and the
//! `packages=( ... )` list of tests/deps.sh, the one list a fresh machine installs.
//! Every package a call names must be in that list; the unit test below checks it
//! and the packages suite proves the list on a fresh Debian root.

use std::fs;
use std::path::{Path, PathBuf};

/// One `require("tool", "package")` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub tool: String,
    pub package: String,
    /// The file and line of the call, for messages.
    pub at: String,
}

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// tests/deps.sh.
pub fn deps_sh() -> PathBuf {
    tests_dir().join("deps.sh")
}

/// Every `require(...)` call in the .rs files under tests/src and tests/suites.
/// A call whose arguments are not two string literals is an error: its package could
/// not be checked against tests/deps.sh.
pub fn requirements() -> Result<Vec<Requirement>, String> {
    let mut files = Vec::new();
    for dir in ["src", "suites"] {
        rust_files(&tests_dir().join(dir), &mut files);
    }
    // This file only talks about the calls (messages, test texts); it makes none.
    files.retain(|f| !f.ends_with("src/deps.rs"));
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let name = file.strip_prefix(tests_dir()).unwrap_or(&file).display();
        found.extend(requirements_in(&text, &format!("tests/{name}"))?);
    }
    Ok(found)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The calls in one file's text; `file` names it in messages. Comment lines and the
/// function's own definition are not calls.
fn requirements_in(text: &str, file: &str) -> Result<Vec<Requirement>, String> {
    const CALL: &str = "require(";
    let mut found = Vec::new();
    for (start, _) in text.match_indices(CALL) {
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let before = &text[line_start..start];
        let at = format!("{file}:{}", text[..start].matches('\n').count() + 1);
        let is_word_part = |c: char| c.is_alphanumeric() || c == '_';
        if before.chars().next_back().is_some_and(is_word_part)
            || before.trim_start().starts_with("//")
            || before.trim_end().ends_with("fn")
        {
            continue;
        }
        let mut rest = &text[start + CALL.len()..];
        let mut args = Vec::new();
        for sep in [',', ')'] {
            let Some((arg, after)) = string_literal(rest) else {
                return Err(format!(
                    "{at}: write require(\"tool\", \"package\") with two string literals"
                ));
            };
            rest = after.trim_start();
            // rustfmt may add a trailing comma before the closing parenthesis.
            if sep == ')' {
                rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
            }
            let Some(after) = rest.strip_prefix(sep) else {
                return Err(format!(
                    "{at}: write require(\"tool\", \"package\") with two string literals"
                ));
            };
            rest = after;
            args.push(arg);
        }
        found.push(Requirement {
            tool: args[0].clone(),
            package: args[1].clone(),
            at,
        });
    }
    Ok(found)
}

/// A plain string literal (no escapes: tool and package names have none) at the start
/// of `s` after whitespace, and what follows it.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start().strip_prefix('"')?;
    let end = s.find('"')?;
    let value = &s[..end];
    (!value.is_empty() && !value.contains('\\')).then(|| (value.to_owned(), &s[end + 1..]))
}

/// The package names in the `packages=( ... )` array of tests/deps.sh, comments
/// stripped.
pub fn deps_sh_packages() -> Result<Vec<String>, String> {
    let path = deps_sh();
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    packages_in(&text).ok_or_else(|| format!("{}: no packages=( ... ) array", path.display()))
}

fn packages_in(text: &str) -> Option<Vec<String>> {
    let mut lines = text.lines().skip_while(|l| l.trim() != "packages=(");
    lines.next()?;
    let mut packages = Vec::new();
    for line in lines {
        let line = line.split('#').next().unwrap_or("").trim();
        if line == ")" {
            return Some(packages);
        }
        packages.extend(line.split_whitespace().map(str::to_owned));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_package_a_suite_requires_is_installed_by_deps_sh() {
        let installed = deps_sh_packages().unwrap();
        assert!(installed.len() >= 10, "tests/deps.sh lists {installed:?}");
        let required = requirements().unwrap();
        assert!(
            required.len() >= 10,
            "only {} require(...) calls found: is the parser still right? {required:?}",
            required.len()
        );
        let missing: Vec<String> = required
            .iter()
            .filter(|r| !installed.contains(&r.package))
            .map(|r| format!("{}: require({:?}, {:?})", r.at, r.tool, r.package))
            .collect();
        assert!(
            missing.is_empty(),
            "packages the suites require and tests/deps.sh does not install:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn require_calls_are_found_in_their_written_forms() {
        let text = r#"
pub fn require(tool: &str, package: &str) {}
    require("sshd", "openssh-server");
    pam_mfa_e2e::require("fido2-token", "fido2-tools");
        require(
            "umockdev-run",
            "umockdev",
        );
    // require("oathtool", "oathtool");
    require_root();
    not_require("sudo", "sudo");
"#;
        let found = requirements_in(text, "f.rs").unwrap();
        let pairs: Vec<(&str, &str, &str)> = found
            .iter()
            .map(|r| (r.tool.as_str(), r.package.as_str(), r.at.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("sshd", "openssh-server", "f.rs:3"),
                ("fido2-token", "fido2-tools", "f.rs:4"),
                ("umockdev-run", "umockdev", "f.rs:5"),
            ]
        );
        assert!(requirements_in("    require(tool, \"pkg\");\n", "f.rs").is_err());
        assert!(requirements_in("    require(\"tool\", pkg);\n", "f.rs").is_err());
    }

    #[test]
    fn the_package_array_is_read_without_comments() {
        let text = "x=1\npackages=(\n  gcc pkg-config # a comment\n  # only a comment\n  sudo\n)\nmore=(a)\n";
        assert_eq!(packages_in(text).unwrap(), ["gcc", "pkg-config", "sudo"]);
        assert_eq!(packages_in("packages=(\n gcc\n"), None);
        assert_eq!(packages_in("nothing here\n"), None);
    }
}
