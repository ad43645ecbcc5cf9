//! Saving a TOTP enrollment over the user's app of the same name (`enroll totp
//! --replace`).
//!
//! Invariant: re-provisioning the key already enrolled (same secret bytes, compared
//! in constant time, and the same algorithm, digits and period) never makes a used
//! code valid again: the enrollment keeps its newest accepted step (and its
//! creation time), so configuration management may repeat the command on every
//! run. Only a different key starts a fresh replay state. Failures and lockout
//! belong to the account, not the key: enrollment never touches them (`mfa-token
//! unlock` does).

use subtle::ConstantTimeEq;

use mfa_core::store::TotpEnrollment;

/// What saving an enrollment replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// There was no enrollment.
    Nothing,
    /// The same key: its replay state is kept.
    SameKey,
    /// Another key: it starts afresh.
    OtherKey,
}

/// Whether `a` and `b` hold the same key with the same parameters.
fn same_key(a: &TotpEnrollment, b: &TotpEnrollment) -> bool {
    // Lengths are not secret; ct_eq is false for slices of different lengths.
    let same_secret: bool = a.secret().expose().ct_eq(b.secret().expose()).into();
    same_secret && a.params() == b.params()
}

/// The enrollment to store when `fresh` is saved over `current`.
pub fn merge(
    current: Option<&TotpEnrollment>,
    fresh: TotpEnrollment,
) -> (TotpEnrollment, Replaced) {
    match current {
        None => (fresh, Replaced::Nothing),
        Some(old) if same_key(old, &fresh) => {
            // A confirmation code just typed may be newer than the last login.
            let kept = old
                .clone()
                .with_last_step(old.last_step().max(fresh.last_step()));
            (kept, Replaced::SameKey)
        }
        Some(_) => (fresh, Replaced::OtherKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::totp::{Algorithm, Params, Secret};

    fn enrollment(secret: &str, params: Params, created: u64, last: Option<u64>) -> TotpEnrollment {
        TotpEnrollment::new(
            "default",
            Secret::from_base32(secret).unwrap(),
            params,
            created,
        )
        .unwrap()
        .with_last_step(last)
    }

    const KEY: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const OTHER: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn the_same_key_keeps_the_last_used_step_and_creation_time() {
        let old = enrollment(KEY, Params::DEFAULT, 100, Some(5000));
        // Re-provisioned unconfirmed, as configuration management does.
        let (saved, what) = merge(Some(&old), enrollment(KEY, Params::DEFAULT, 900, None));
        assert_eq!(what, Replaced::SameKey);
        assert_eq!(saved, old);
        // Spaces and case in the base32 text do not make another key.
        let (saved, what) = merge(
            Some(&old),
            enrollment(
                "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp",
                Params::DEFAULT,
                900,
                None,
            ),
        );
        assert_eq!((saved.last_step(), what), (Some(5000), Replaced::SameKey));
    }

    #[test]
    fn a_newer_confirmation_step_wins_an_older_one_never_rewinds() {
        let old = enrollment(KEY, Params::DEFAULT, 100, Some(5000));
        let (saved, _) = merge(
            Some(&old),
            enrollment(KEY, Params::DEFAULT, 900, Some(5001)),
        );
        assert_eq!(saved.last_step(), Some(5001));
        let (saved, _) = merge(
            Some(&old),
            enrollment(KEY, Params::DEFAULT, 900, Some(4000)),
        );
        assert_eq!(saved.last_step(), Some(5000));
    }

    #[test]
    fn another_secret_or_other_parameters_start_afresh() {
        let old = enrollment(KEY, Params::DEFAULT, 100, Some(5000));
        let sha256 = Params {
            algorithm: Algorithm::Sha256,
            ..Params::DEFAULT
        };
        let eight = Params {
            digits: 8,
            ..Params::DEFAULT
        };
        let sixty = Params {
            period: 60,
            ..Params::DEFAULT
        };
        for fresh in [
            enrollment(OTHER, Params::DEFAULT, 900, None),
            // A prefix of the old key is another key.
            enrollment("JBSWY3DPEHPK3PXP", Params::DEFAULT, 900, None),
            enrollment(KEY, sha256, 900, None),
            enrollment(KEY, eight, 900, None),
            enrollment(KEY, sixty, 900, None),
        ] {
            let (saved, what) = merge(Some(&old), fresh.clone());
            assert_eq!(what, Replaced::OtherKey);
            assert_eq!(saved, fresh);
        }
    }

    #[test]
    fn a_first_enrollment_is_saved_as_given() {
        let fresh = enrollment(KEY, Params::DEFAULT, 900, Some(7));
        assert_eq!(merge(None, fresh.clone()), (fresh, Replaced::Nothing));
    }
}
