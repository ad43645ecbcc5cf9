//! Who a user is and which groups they belong to, through NSS (files, LDAP, sssd
//! alike).
//!
//! Invariant: a user is known only by the account's own name (`pw_name`), never by
//! the name as typed: a user database that ignores case or strips domains maps
//! "ALICE" to the same account as "alice", and so must we, or "ALICE" is a user
//! without a second factor. A lookup that fails answers "unknown user" (refused) or
//! "no groups", which can only withhold a login or enrollment, never grant one.

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

    /// The names of the user's primary and supplementary groups; empty if the user
    /// or the groups cannot be looked up.
    fn groups(&self, user: &UserName) -> Vec<String>;
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

    fn groups(&self, user: &UserName) -> Vec<String> {
        use nix::unistd::{getgrouplist, Group, User};
        let Ok(Some(account)) = User::from_name(user.as_str()) else {
            return vec![];
        };
        let Ok(name) = std::ffi::CString::new(user.as_str()) else {
            return vec![];
        };
        let gids = getgrouplist(&name, account.gid).unwrap_or_else(|_| vec![account.gid]);
        gids.into_iter()
            .filter_map(|gid| Group::from_gid(gid).ok().flatten())
            .map(|g| g.name)
            .collect()
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
        let groups = NssAccounts.groups(&UserName::new("root").unwrap());
        assert!(groups.iter().any(|g| g == "root"), "{groups:?}");
        assert!(NssAccounts
            .groups(&UserName::new("no-such-user-here").unwrap())
            .is_empty());
    }
}
