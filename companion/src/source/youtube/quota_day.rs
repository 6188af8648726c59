//! YouTube's quota day: it resets at midnight Pacific time (PST, UTC−8; PDT, UTC−7 from the
//! second Sunday of March to the first Sunday of November, switching at 02:00 local), so the
//! daily budget and a `quotaExceeded` block follow the same clock. No time-zone database is
//! needed for one fixed rule.

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil year of a day number.
fn year_of(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(m <= 2)
}

/// Day number of the `n`-th Sunday (1-based) of a month.
fn nth_sunday(y: i64, m: i64, n: i64) -> i64 {
    let first = days_from_civil(y, m, 1);
    // 1970-01-01 was a Thursday: weekday 0 = Sunday.
    let weekday = (first + 4).rem_euclid(7);
    first + (7 - weekday) % 7 + 7 * (n - 1)
}

/// Hours to add to UTC to get Pacific time at `utc_ms`.
fn pacific_offset_hours(utc_ms: i64) -> i64 {
    let year = year_of(utc_ms.div_euclid(DAY_MS));
    // 02:00 PST = 10:00 UTC; 02:00 PDT = 09:00 UTC.
    let dst_start = nth_sunday(year, 3, 2) * DAY_MS + 10 * HOUR_MS;
    let dst_end = nth_sunday(year, 11, 1) * DAY_MS + 9 * HOUR_MS;
    if (dst_start..dst_end).contains(&utc_ms) {
        -7
    } else {
        -8
    }
}

/// The Pacific midnight `days_ahead` days after the one that began the local day of
/// `utc_ms`, in UTC milliseconds. The offset is the one at that midnight itself (DST switches
/// at 02:00, so it may differ from the offset at `utc_ms`).
fn pacific_midnight_ms(utc_ms: u64, days_ahead: i64) -> u64 {
    let utc = utc_ms as i64;
    let local = utc + pacific_offset_hours(utc) * HOUR_MS;
    let midnight = (local.div_euclid(DAY_MS) + days_ahead) * DAY_MS;
    let guess = midnight + 8 * HOUR_MS;
    (midnight - pacific_offset_hours(guess) * HOUR_MS).max(0) as u64
}

/// The last Pacific midnight at or before `utc_ms`, in UTC milliseconds.
pub fn day_start_ms(utc_ms: u64) -> u64 {
    pacific_midnight_ms(utc_ms, 0)
}

/// The next Pacific midnight after `utc_ms`: when the quota resets.
pub fn next_reset_ms(utc_ms: u64) -> u64 {
    pacific_midnight_ms(utc_ms, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i64, m: i64, d: i64, h: i64) -> u64 {
        (days_from_civil(y, m, d) * DAY_MS + h * HOUR_MS) as u64
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(year_of(days_from_civil(2026, 12, 31)), 2026);
        assert_eq!(year_of(days_from_civil(2027, 1, 1)), 2027);
        // 2026's DST: March 8 to November 1.
        assert_eq!(nth_sunday(2026, 3, 2), days_from_civil(2026, 3, 8));
        assert_eq!(nth_sunday(2026, 11, 1), days_from_civil(2026, 11, 1));
    }

    #[test]
    fn winter_resets_at_08_utc_summer_at_07_utc() {
        // 2026-11-26 15:00 UTC = 07:00 PST.
        assert_eq!(day_start_ms(utc(2026, 11, 26, 15)), utc(2026, 11, 26, 8));
        assert_eq!(next_reset_ms(utc(2026, 11, 26, 15)), utc(2026, 11, 27, 8));
        // 2026-11-26 05:00 UTC is still the 25th in California.
        assert_eq!(day_start_ms(utc(2026, 11, 26, 5)), utc(2026, 11, 25, 8));
        // July: PDT.
        assert_eq!(next_reset_ms(utc(2026, 7, 4, 12)), utc(2026, 7, 5, 7));
        assert_eq!(day_start_ms(utc(2026, 7, 4, 12)), utc(2026, 7, 4, 7));
    }

    #[test]
    fn switch_days_use_the_offset_at_midnight() {
        // 2026-03-08: midnight is still PST (08:00 UTC), the next one PDT (07:00 UTC).
        assert_eq!(day_start_ms(utc(2026, 3, 8, 20)), utc(2026, 3, 8, 8));
        assert_eq!(next_reset_ms(utc(2026, 3, 8, 20)), utc(2026, 3, 9, 7));
        // 2026-11-01: midnight PDT (07:00 UTC), next midnight PST (08:00 UTC).
        assert_eq!(day_start_ms(utc(2026, 11, 1, 20)), utc(2026, 11, 1, 7));
        assert_eq!(next_reset_ms(utc(2026, 11, 1, 20)), utc(2026, 11, 2, 8));
    }
}
