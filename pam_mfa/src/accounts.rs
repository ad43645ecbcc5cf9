//! Who belongs to which group, through NSS (files, LDAP, sssd alike).
//!
//! Invariant: a lookup that fails answers "no groups", which can only withhold
//! enrollment at login, never grant it.

use crate::username::UserName;

/// Group membership lookups.
pub trait Accounts {
    /// The names of the user's primary and supplementary groups; empty if the user
    /// or the groups cannot be looked up.
    fn groups(&self, user: &UserName) -> Vec<String>;
}

/// The system's account databases (getpwnam, getgrouplist, getgrgid).
pub struct NssAccounts;

impl Accounts for NssAccounts {
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
    fn root_is_in_group_root() {
        let groups = NssAccounts.groups(&UserName::new("root").unwrap());
        assert!(groups.iter().any(|g| g == "root"), "{groups:?}");
        assert!(NssAccounts
            .groups(&UserName::new("no-such-user-here").unwrap())
            .is_empty());
    }
}
