//! Who a user is and which groups they belong to, through NSS (files, LDAP, sssd
//! alike).
//!
//! Invariant: a user is known only by the account's own name (`pw_name`), never by
//! the name as typed: a user database that ignores case or strips domains maps
//! "ALICE" to the same account as "alice", and so must we, or "ALICE" is a user
//! without a second factor. A lookup that fails answers "unknown user" (refused) or
//! says that the groups are unknown: callers must then decide as if the answer were
//! the one that withholds (no enrollment, no exemption, a second factor required),
//! never the one that grants.

use crate::username::UserName;

/// What the user database says about a name as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The account's own name (`pw_name`), which may differ from the typed one.
    Found(String),
    /// No such account (or the typed name cannot be looked up at all).
    Unknown,
    /// The user database failed; treated like an unknown user.
    Failed(String),
}

/// User and group lookups.
pub trait Accounts {
    /// The account a typed user name (PAM_USER, `--user`) belongs to.
    fn lookup(&self, typed: &[u8]) -> Lookup;

    /// The names of the user's primary and supplementary groups, or why the user
    /// database could not say.
    fn groups(&self, user: &UserName) -> Result<Vec<String>, String>;
}

/// The first of `wanted` that `user` belongs to (primary or supplementary group):
/// `Ok(None)` if none, `Err` if the user database could not say. One rule for
/// `[enroll] groups` and the `[policy]` group lists.
pub fn member_of<'w>(
    accounts: &dyn Accounts,
    user: &UserName,
    wanted: &'w [String],
) -> Result<Option<&'w str>, String> {
    if wanted.is_empty() {
        return Ok(None);
    }
    let groups = accounts.groups(user)?;
    Ok(wanted
        .iter()
        .find(|g| groups.contains(g))
        .map(String::as_str))
}

/// The system's account databases (getpwnam, getgrouplist, getgrgid).
pub struct NssAccounts;

impl Accounts for NssAccounts {
    fn lookup(&self, typed: &[u8]) -> Lookup {
        use nix::errno::Errno;
        // A name with a NUL or that is not UTF-8 cannot be an account of ours.
        let Ok(name) = std::str::from_utf8(typed) else {
            return Lookup::Unknown;
        };
        if name.is_empty() || name.contains('\0') {
            return Lookup::Unknown;
        }
        match nix::unistd::User::from_name(name) {
            Ok(Some(account)) => Lookup::Found(account.name),
            Ok(None) => Lookup::Unknown,
            // getpwnam_r(3): these mean "not found" for some NSS modules.
            Err(Errno::ENOENT | Errno::ESRCH | Errno::EBADF | Errno::EPERM) => Lookup::Unknown,
            Err(e) => Lookup::Failed(e.desc().to_owned()),
        }
    }

    fn groups(&self, user: &UserName) -> Result<Vec<String>, String> {
        use nix::unistd::{getgrouplist, Group, User};
        let account = match User::from_name(user.as_str()) {
            Ok(Some(account)) => account,
            Ok(None) => return Err(format!("no account {user}")),
            Err(e) => return Err(format!("cannot look up {user}: {}", e.desc())),
        };
        let name =
            std::ffi::CString::new(user.as_str()).map_err(|_| format!("{user}: not a C string"))?;
        let gids = getgrouplist(&name, account.gid)
            .map_err(|e| format!("cannot list the groups of {user}: {}", e.desc()))?;
        let mut names = Vec::with_capacity(gids.len());
        for gid in gids {
            match Group::from_gid(gid) {
                Ok(Some(g)) => names.push(g.name),
                // A gid without a name is in no list of names.
                Ok(None) => {}
                Err(e) => return Err(format!("cannot look up group {gid}: {}", e.desc())),
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_the_account_name() {
        assert_eq!(
            NssAccounts.lookup(b"root"),
            Lookup::Found("root".to_owned())
        );
        for unknown in [&b"no-such-user-here"[..], b"", b"ro\0ot", b"\xff"] {
            assert_eq!(NssAccounts.lookup(unknown), Lookup::Unknown, "{unknown:?}");
        }
    }

    #[test]
    fn root_is_in_group_root() {
        let root = UserName::new("root").unwrap();
        let groups = NssAccounts.groups(&root).unwrap();
        assert!(groups.iter().any(|g| g == "root"), "{groups:?}");
        assert!(NssAccounts
            .groups(&UserName::new("no-such-user-here").unwrap())
            .is_err());
        let wanted = ["staff".to_owned(), "root".to_owned()];
        assert_eq!(member_of(&NssAccounts, &root, &wanted), Ok(Some("root")));
        assert_eq!(member_of(&NssAccounts, &root, &wanted[..1]), Ok(None));
        assert_eq!(member_of(&NssAccounts, &root, &[]), Ok(None));
    }
}
