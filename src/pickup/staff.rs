//! Staff who hand goods over, with a 4–8 digit PIN kept only as an argon2id
//! hash: the rules for ids and PINs, and the lock. Wrong PINs are counted in
//! the database (`store/staff.rs`): the fifth locks the account for 15
//! minutes, and a restart does not reset that.

use crate::store::staff::PinLock;
use crate::store::{StoreError, WriteCtx};

/// Wrong PINs in a row that lock an account.
pub const PIN_MAX_FAILURES: i64 = 5;
/// How long a locked account stays locked.
pub const PIN_LOCK_S: i64 = 15 * 60;

/// A PIN as the issue fixes it: 4 to 8 digits.
pub fn check_pin_format(pin: &str) -> Result<(), String> {
    if (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("a PIN is 4 to 8 digits".into())
    }
}

/// `[A-Za-z0-9._-]{1,32}`: staff ids appear in events and URLs.
pub fn check_staff_id(id: &str) -> Result<(), String> {
    if (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        Ok(())
    } else {
        Err("a staff id is 1 to 32 letters, digits, dots, dashes or underscores".into())
    }
}

/// Records a PIN check in the writer's transaction: a right PIN clears the
/// count, a wrong one counts and the fifth locks. Returns the lock's end if
/// the account is now locked.
pub fn record_pin(
    ctx: &mut WriteCtx<'_>,
    id: &str,
    right: bool,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let lock = PinLock {
        max_failures: PIN_MAX_FAILURES,
        lock_s: PIN_LOCK_S,
    };
    let locked = crate::store::staff::record_pin(ctx, id, right, now, lock)?;
    if locked.is_some() {
        tracing::warn!(
            staff_id = id,
            "staff account locked after repeated wrong PINs"
        );
    }
    Ok(locked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_4_to_8_digits() {
        assert!(check_pin_format("1234").is_ok() && check_pin_format("12345678").is_ok());
        for bad in ["123", "123456789", "12a4", ""] {
            assert!(check_pin_format(bad).is_err(), "{bad}");
        }
    }
}
