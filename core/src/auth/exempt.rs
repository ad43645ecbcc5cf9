//! Who must use a second factor: `[policy] exempt_users`, `exempt_groups`,
//! `exempt_networks` and `require_groups`.
//!
//! Invariant: decided from the account's own name, PAM_RHOST read strictly as an
//! IP literal ([`crate::network`]) and the user database, before any prompt and
//! any store access, so an exempt login spends, counts and locks nothing. Only the
//! config grants an exemption: a user database that cannot say which groups the
//! user is in exempts nobody, and a host name in PAM_RHOST matches no network.

use crate::accounts::{self, Accounts};
use crate::config::PolicyConfig;
use crate::network;
use crate::username::UserName;

/// Whether `user`, logging in from `rhost` (PAM_RHOST, empty when unset), must
/// use a second factor: `Ok(Some(reason))` if not, `Ok(None)` if so; `Err(why)`
/// if the groups the answer depends on cannot be looked up (then the factor is
/// required).
pub(super) fn exemption(
    policy: &PolicyConfig,
    user: &UserName,
    rhost: &str,
    accounts: &dyn Accounts,
) -> Result<Option<String>, String> {
    if policy.exempt_users.iter().any(|u| u == user.as_str()) {
        return Ok(Some(format!("exempt_users lists {user}")));
    }
    if let Some(ip) = network::rhost_ip(rhost) {
        if let Some(block) = policy.exempt_networks.iter().find(|b| b.contains(ip)) {
            // An IP literal: nothing in it needs escaping.
            return Ok(Some(format!(
                "exempt_networks {block} matches rhost {rhost}"
            )));
        }
    }
    if let Some(group) = accounts::member_of(accounts, user, &policy.exempt_groups)? {
        return Ok(Some(format!("member of {group}, in exempt_groups")));
    }
    if !policy.require_groups.is_empty()
        && accounts::member_of(accounts, user, &policy.require_groups)?.is_none()
    {
        return Ok(Some(
            "not a member of any group in require_groups".to_owned(),
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tests::Directory;
    use crate::config::Config;
    use crate::network::Cidr;
    use std::path::Path;

    fn policy() -> PolicyConfig {
        let mut p = Config::defaults(Path::new("/x")).policy;
        p.exempt_networks = vec![
            Cidr::parse("10.0.0.0/8").unwrap(),
            Cidr::parse("2001:db8::/32").unwrap(),
        ];
        p
    }

    fn check(p: &PolicyConfig, user: &str, rhost: &str) -> Result<Option<String>, String> {
        exemption(p, &UserName::new(user).unwrap(), rhost, &Directory)
    }

    #[test]
    fn nobody_is_exempt_by_default() {
        let p = Config::defaults(Path::new("/x")).policy;
        for (user, rhost) in [("alice", ""), ("wheel1", "10.1.2.3"), ("nogroups", "::1")] {
            assert_eq!(check(&p, user, rhost), Ok(None));
        }
    }

    #[test]
    fn networks_match_ip_literals_only() {
        let p = policy();
        assert_eq!(
            check(&p, "alice", "10.1.2.3"),
            Ok(Some(
                "exempt_networks 10.0.0.0/8 matches rhost 10.1.2.3".into()
            ))
        );
        assert_eq!(
            check(&p, "alice", "::ffff:10.1.2.3"),
            Ok(Some(
                "exempt_networks 10.0.0.0/8 matches rhost ::ffff:10.1.2.3".into()
            ))
        );
        assert_eq!(
            check(&p, "alice", "2001:db8::7"),
            Ok(Some(
                "exempt_networks 2001:db8::/32 matches rhost 2001:db8::7".into()
            ))
        );
        for not_exempt in [
            "",
            "11.1.2.3",
            "2001:db9::1",
            // A name that a resolver might map into the block is still a name.
            "10.1.2.3.nip.io",
            "host.internal",
            "010.1.2.3",
            "10.1.2.3:22",
            "[2001:db8::7]",
        ] {
            assert_eq!(check(&p, "alice", not_exempt), Ok(None), "{not_exempt:?}");
        }
    }

    #[test]
    fn users_and_groups_are_exempt_by_name() {
        let mut p = policy();
        p.exempt_users = vec!["backup".into()];
        p.exempt_groups = vec!["robots".into(), "wheel".into()];
        assert_eq!(
            check(&p, "backup", ""),
            Ok(Some("exempt_users lists backup".into()))
        );
        assert_eq!(
            check(&p, "wheel1", ""),
            Ok(Some("member of wheel, in exempt_groups".into()))
        );
        assert_eq!(check(&p, "alice", ""), Ok(None));
        // Groups unknown: not exempt, and the caller hears why.
        assert_eq!(
            check(&p, "nogroups1", ""),
            Err("LDAP server unreachable".into())
        );
        // A user or network exemption needs no group lookup.
        p.exempt_users.push("nogroups2".into());
        assert!(matches!(check(&p, "nogroups2", ""), Ok(Some(_))));
        assert!(matches!(check(&p, "nogroups3", "10.0.0.1"), Ok(Some(_))));
    }

    #[test]
    fn require_groups_exempts_everybody_else() {
        let mut p = policy();
        p.require_groups = vec!["wheel".into()];
        assert_eq!(check(&p, "wheel1", ""), Ok(None));
        assert_eq!(
            check(&p, "alice", ""),
            Ok(Some("not a member of any group in require_groups".into()))
        );
        // Unknown membership must never read as "not a member".
        assert_eq!(
            check(&p, "nogroups1", ""),
            Err("LDAP server unreachable".into())
        );
        // The exemptions still apply to members.
        assert!(matches!(check(&p, "wheel1", "10.9.9.9"), Ok(Some(_))));
    }
}
