//! Socket ids: two random decimal integers joined by `.` (SDKs check `^\d+\.\d+$`).

/// Each half is below 10^10, like Pusher's own ids.
const HALF_MODULUS: u64 = 10_000_000_000;

/// Formats a socket id from two random numbers.
pub fn socket_id_from(a: u64, b: u64) -> String {
    format!("{}.{}", a % HALF_MODULUS, b % HALF_MODULUS)
}

/// A new random socket id. Draws from the platform's CSPRNG (crypto.getRandomValues on Workers).
pub fn new_socket_id() -> Result<String, getrandom::Error> {
    Ok(socket_id_from(getrandom::u64()?, getrandom::u64()?))
}

/// `^\d+\.\d+$`, as the server SDKs validate it.
pub fn is_valid_socket_id(s: &str) -> bool {
    match s.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_validation() {
        assert_eq!(socket_id_from(12, 34), "12.34");
        assert_eq!(socket_id_from(u64::MAX, 10_000_000_001), "3709551615.1");
        for good in ["1.2", "1234.1234", "0.0"] {
            assert!(is_valid_socket_id(good), "{good}");
        }
        for bad in ["", "1", "1.", ".1", "1.2.3", "a.1", "1.2\n", "-1.2", " 1.2"] {
            assert!(!is_valid_socket_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn random_ids_are_valid_and_differ() {
        let a = new_socket_id().unwrap();
        let b = new_socket_id().unwrap();
        assert!(is_valid_socket_id(&a) && is_valid_socket_id(&b));
        assert_ne!(a, b);
    }
}
