//! SOA serial numbers: `YYYYMMDDnn` and RFC 1982 serial arithmetic.

use std::cmp::Ordering;

use chrono::{Datelike, NaiveDate};

/// Compare two serials with RFC 1982 arithmetic (32-bit serial space).
///
/// Returns `None` when the comparison is undefined (the two are exactly
/// 2^31 apart).
///
/// ```
/// use std::cmp::Ordering;
/// use stackdock_dns::serial::compare;
/// assert_eq!(compare(1, 2), Some(Ordering::Less));
/// assert_eq!(compare(u32::MAX, 0), Some(Ordering::Less)); // 0 comes after the wrap
/// assert_eq!(compare(0, 1 << 31), None);
/// ```
pub fn compare(a: u32, b: u32) -> Option<Ordering> {
    const HALF: u32 = 1 << 31;
    if a == b {
        return Some(Ordering::Equal);
    }
    let forward = b.wrapping_sub(a);
    match forward.cmp(&HALF) {
        Ordering::Less => Some(Ordering::Less),
        Ordering::Greater => Some(Ordering::Greater),
        Ordering::Equal => None,
    }
}

/// The first serial of a day: `YYYYMMDD00`.
pub fn day_base(date: NaiveDate) -> u32 {
    let ymd = date.year().unsigned_abs() * 10_000 + date.month() * 100 + date.day();
    ymd.wrapping_mul(100)
}

/// The serial after `current`, on `date`.
///
/// `YYYYMMDDnn` form: the first change of a day gets `YYYYMMDD01`; further
/// changes that day count `nn` up. When `nn` passes 99 (or `current` is
/// already ahead of today, e.g. after a clock change or an epoch-style serial)
/// the serial keeps increasing by one, so it always moves forward in RFC 1982
/// terms — what secondaries need.
///
/// ```
/// use chrono::NaiveDate;
/// use stackdock_dns::serial::next;
/// let d = NaiveDate::from_ymd_opt(2024, 3, 9).unwrap();
/// assert_eq!(next(2024030805, d), 2024030901); // day change
/// assert_eq!(next(2024030901, d), 2024030902);
/// assert_eq!(next(2024030999, d), 2024031000); // nn overflow: still increasing
/// assert_eq!(next(0, d), 2024030901);
/// ```
pub fn next(current: u32, date: NaiveDate) -> u32 {
    let candidate = day_base(date).wrapping_add(1);
    match compare(current, candidate) {
        Some(Ordering::Less) => candidate,
        _ => current.wrapping_add(1).max(1),
    }
}

/// [`next`] for today's date (UTC).
pub fn next_today(current: u32) -> u32 {
    next(current, chrono::Utc::now().date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn day_changes_and_overflow() {
        let d1 = NaiveDate::from_ymd_opt(2023, 12, 31).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let mut s = next(0, d1);
        assert_eq!(s, 2023123101);
        for _ in 0..98 {
            s = next(s, d1);
        }
        assert_eq!(s, 2023123199);
        s = next(s, d1);
        assert_eq!(s, 2023123200, "nn overflow keeps counting up");
        s = next(s, d2);
        assert_eq!(s, 2024010101, "and the next day continues from there");
        // A serial from the future (clock went back) still increases.
        assert_eq!(next(2030010101, d2), 2030010102);
    }

    proptest! {
        #[test]
        fn next_is_always_greater(current in any::<u32>(), days in 0i64..40000) {
            let date = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Days::new(days as u64);
            let n = next(current, date);
            prop_assert_eq!(compare(current, n), Some(Ordering::Less));
        }

        #[test]
        fn compare_is_antisymmetric(a in any::<u32>(), b in any::<u32>()) {
            let ab = compare(a, b);
            let ba = compare(b, a);
            prop_assert_eq!(ab.map(Ordering::reverse), ba);
        }
    }
}
