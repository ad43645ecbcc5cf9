use super::*;
use crate::config::Config;
use crate::secure_fs::effective_uid;
use crate::test_support::Scratch;
use std::path::Path;

fn cfg() -> OobConfig {
    Config::defaults(Path::new("/etc/pam_mfa/config.toml")).oob
}

fn delivery<'a>(contact: &'a Contact) -> Delivery<'a> {
    Delivery {
        user: "alice",
        contact,
        code: "424242",
        lifetime: 300,
        lang: Lang::Nl,
        host: "bastion",
    }
}

#[test]
fn the_input_is_key_value_lines() {
    let contact = Contact::phone("+31 6 12345678").unwrap();
    let text = delivery(&contact).input();
    assert_eq!(
        text.lines().take(6).collect::<Vec<_>>(),
        [
            "user=alice",
            "channel=sms",
            "to=+31612345678",
            "code=424242",
            "expires_in=300",
            "lang=nl"
        ]
    );
    let message = text.lines().nth(6).unwrap();
    assert!(
        message.starts_with("message=") && message.contains("424242"),
        "{message}"
    );
    assert!(
        message.contains("bastion") && message.contains(" 5 "),
        "{message}"
    );
}

/// A command in a scratch directory, owned by whoever runs the tests.
fn script(dir: &Scratch, body: &str) -> (OobConfig, u32) {
    let path = dir.write("send", format!("#!/bin/sh\n{body}\n").as_bytes(), 0o755);
    let mut c = cfg();
    c.command = Some(path);
    c.timeout_seconds = 2;
    // Run as ourselves, so the test needs no other account.
    c.run_as = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .name;
    (c, effective_uid().unwrap())
}

#[test]
fn the_command_reads_the_code_on_stdin_with_an_empty_environment() {
    let dir = Scratch::new(0o755);
    let out = dir.path().join("out");
    let (c, owner) = script(
        &dir,
        &format!(
            "cat > {0}.in; env > {0}.env; echo \"$@\" > {0}.args; ls /proc/$$/fd > {0}.fds",
            out.display()
        ),
    );
    let contact = Contact::email("alice@example.org").unwrap();
    // A descriptor without close-on-exec, as an application might leave open.
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    // Moved to a number far from what the shell itself opens.
    let leaked_no = nix::fcntl::fcntl(&null, nix::fcntl::FcntlArg::F_DUPFD(200)).unwrap();
    let mut courier = CommandCourier { cfg: &c, owner };
    courier.send(&delivery(&contact)).unwrap();
    let read = |ext: &str| std::fs::read_to_string(format!("{}.{ext}", out.display())).unwrap();
    assert!(read("in").contains("code=424242\n"));
    assert!(read("in").contains("to=alice@example.org\n"));
    assert!(!read("env").contains("424242"));
    assert!(!read("env")
        .lines()
        .any(|l| l.starts_with("LD_") || l.starts_with("HOME=")));
    assert_eq!(read("args").trim(), "");
    let fds: Vec<String> = read("fds").lines().map(str::to_owned).collect();
    assert!(
        !fds.contains(&leaked_no.to_string()),
        "inherited descriptor {leaked_no} in {fds:?}"
    );
    assert!(fds.contains(&"0".to_owned()), "{fds:?}");
}

#[test]
fn failures_timeouts_and_unsafe_commands_are_errors() {
    let dir = Scratch::new(0o755);
    let contact = Contact::phone("+31612345678").unwrap();
    let d = delivery(&contact);

    let (c, owner) = script(&dir, "exit 3");
    let e = CommandCourier { cfg: &c, owner }.send(&d).unwrap_err();
    assert!(matches!(e, SendError::Failed(..)), "{e}");

    // The sleeping grandchild dies with the group.
    let (c, owner) = script(&dir, "sleep 30 & sleep 30");
    let started = Instant::now();
    let e = CommandCourier { cfg: &c, owner }.send(&d).unwrap_err();
    assert!(matches!(e, SendError::Timeout(_, 2)), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let (c, owner) = script(&dir, "exit 0");
    std::fs::set_permissions(
        c.command.as_ref().unwrap(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let e = CommandCourier { cfg: &c, owner }.send(&d).unwrap_err();
    assert!(e.to_string().contains("mode 0777 is insecure"), "{e}");

    // A directory on the way that others may write: they could swap the command.
    let (c, owner) = script(&dir, "exit 0");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let e = CommandCourier { cfg: &c, owner }.send(&d).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("{}: mode 0777 is insecure", dir.path().display())),
        "{e}"
    );
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let (c, _) = script(&dir, "exit 0");
    let e = CommandCourier {
        cfg: &c,
        owner: owner + 1,
    }
    .send(&d)
    .unwrap_err();
    assert!(e.to_string().contains("must be owned by uid"), "{e}");

    let (mut c, owner) = script(&dir, "exit 0");
    c.run_as = "no-such-account-here".into();
    let e = CommandCourier { cfg: &c, owner }.send(&d).unwrap_err();
    assert!(matches!(e, SendError::NoSuchAccount(_)), "{e}");

    let e = NoCourier.send(&d).unwrap_err();
    assert!(matches!(e, SendError::NotConfigured));
}
