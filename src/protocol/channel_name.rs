//! Channel names: validation and classification by exact, start-anchored prefix.

use std::fmt;

/// Reserved prefix of the per-user channel joined after `pusher:signin`.
pub const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Public,
    Cache,
    Private,
    PrivateCache,
    PrivateEncrypted,
    PrivateEncryptedCache,
    Presence,
    PresenceCache,
    ServerToUser,
}

/// Most specific prefix first, so `private-encrypted-cache-x` never matches `private-`.
const PREFIXES: [(&str, ChannelKind); 8] = [
    (
        "private-encrypted-cache-",
        ChannelKind::PrivateEncryptedCache,
    ),
    ("private-encrypted-", ChannelKind::PrivateEncrypted),
    ("private-cache-", ChannelKind::PrivateCache),
    ("private-", ChannelKind::Private),
    ("presence-cache-", ChannelKind::PresenceCache),
    ("presence-", ChannelKind::Presence),
    ("cache-", ChannelKind::Cache),
    (SERVER_TO_USER_PREFIX, ChannelKind::ServerToUser),
];

impl ChannelKind {
    /// Classifies a name by its prefix only; validity is checked by [`validate_channel_name`].
    pub fn of(name: &str) -> ChannelKind {
        PREFIXES
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
            .map(|&(_, kind)| kind)
            .unwrap_or(ChannelKind::Public)
    }

    /// Whether subscribing needs an `auth` signature from the app's server.
    pub fn requires_auth(self) -> bool {
        matches!(
            self,
            ChannelKind::Private
                | ChannelKind::PrivateCache
                | ChannelKind::PrivateEncrypted
                | ChannelKind::PrivateEncryptedCache
                | ChannelKind::Presence
                | ChannelKind::PresenceCache
        )
    }

    pub fn is_presence(self) -> bool {
        matches!(self, ChannelKind::Presence | ChannelKind::PresenceCache)
    }

    pub fn is_cache(self) -> bool {
        matches!(
            self,
            ChannelKind::Cache
                | ChannelKind::PrivateCache
                | ChannelKind::PrivateEncryptedCache
                | ChannelKind::PresenceCache
        )
    }

    pub fn is_encrypted(self) -> bool {
        matches!(
            self,
            ChannelKind::PrivateEncrypted | ChannelKind::PrivateEncryptedCache
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelNameError {
    Empty,
    TooLong {
        length: usize,
        max: usize,
    },
    InvalidCharacter(char),
    /// `#` is reserved for `#server-to-user-{id}`.
    ReservedPrefix,
    /// `#server-to-user-` with nothing after it.
    MissingUserId,
}

impl fmt::Display for ChannelNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelNameError::Empty => write!(f, "channel name is empty"),
            ChannelNameError::TooLong { length, max } => {
                write!(f, "channel name is {length} characters long, the maximum is {max}")
            }
            ChannelNameError::InvalidCharacter(c) => write!(
                f,
                "channel name contains {c:?}; only A-Z a-z 0-9 _ - = @ , . ; are allowed"
            ),
            ChannelNameError::ReservedPrefix => write!(
                f,
                "channel names starting with '#' are reserved (only {SERVER_TO_USER_PREFIX}{{user_id}})"
            ),
            ChannelNameError::MissingUserId => {
                write!(f, "{SERVER_TO_USER_PREFIX} must be followed by a user id")
            }
        }
    }
}

fn is_allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '=' | '@' | ',' | '.' | ';')
}

/// Validates a channel name (charset `[A-Za-z0-9_\-=@,.;]`, `#` only as `#server-to-user-`,
/// length) and returns its kind.
pub fn validate_channel_name(
    name: &str,
    max_length: usize,
) -> Result<ChannelKind, ChannelNameError> {
    if name.is_empty() {
        return Err(ChannelNameError::Empty);
    }
    let length = name.chars().count();
    if length > max_length {
        return Err(ChannelNameError::TooLong {
            length,
            max: max_length,
        });
    }
    let rest = if let Some(user_id) = name.strip_prefix(SERVER_TO_USER_PREFIX) {
        if user_id.is_empty() {
            return Err(ChannelNameError::MissingUserId);
        }
        user_id
    } else if name.starts_with('#') {
        return Err(ChannelNameError::ReservedPrefix);
    } else {
        name
    };
    if let Some(bad) = rest.chars().find(|&c| !is_allowed_char(c)) {
        return Err(ChannelNameError::InvalidCharacter(bad));
    }
    Ok(ChannelKind::of(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChannelKind::*;

    #[test]
    fn classification_is_start_anchored_and_most_specific_first() {
        let cases = [
            ("my-channel", Public),
            ("cache-news", Cache),
            ("private-chat", Private),
            ("private-cache-x", PrivateCache),
            ("private-encrypted-x", PrivateEncrypted),
            ("private-encrypted-cache-x", PrivateEncryptedCache),
            ("presence-room", Presence),
            ("presence-cache-room", PresenceCache),
            ("#server-to-user-42", ServerToUser),
            // Lookalikes other servers misclassify.
            ("mycache-x", Public),
            ("cachet", Public),
            ("privateroom", Public),
            ("presenceroom", Public),
            ("public-private-x", Public),
            ("private-mycache-x", Private),
            ("cache", Public),
        ];
        for (name, kind) in cases {
            assert_eq!(ChannelKind::of(name), kind, "{name}");
            assert_eq!(validate_channel_name(name, 200), Ok(kind), "{name}");
        }
    }

    #[test]
    fn auth_is_required_for_every_private_and_presence_variant() {
        for kind in [
            Private,
            PrivateCache,
            PrivateEncrypted,
            PrivateEncryptedCache,
            Presence,
            PresenceCache,
        ] {
            assert!(kind.requires_auth(), "{kind:?}");
        }
        for kind in [Public, Cache, ServerToUser] {
            assert!(!kind.requires_auth(), "{kind:?}");
        }
        assert!(PresenceCache.is_presence() && PresenceCache.is_cache());
        assert!(PrivateEncryptedCache.is_encrypted() && PrivateEncryptedCache.is_cache());
        assert!(!Private.is_cache() && !Public.is_presence());
    }

    #[test]
    fn charset_and_reserved_prefix() {
        assert_eq!(
            validate_channel_name("a b", 200),
            Err(ChannelNameError::InvalidCharacter(' '))
        );
        assert_eq!(
            validate_channel_name("room:1", 200),
            Err(ChannelNameError::InvalidCharacter(':'))
        );
        assert_eq!(
            validate_channel_name("#room", 200),
            Err(ChannelNameError::ReservedPrefix)
        );
        assert_eq!(
            validate_channel_name("#server-to-user-", 200),
            Err(ChannelNameError::MissingUserId)
        );
        assert_eq!(
            validate_channel_name("#server-to-user-a#b", 200),
            Err(ChannelNameError::InvalidCharacter('#'))
        );
        assert_eq!(validate_channel_name("", 200), Err(ChannelNameError::Empty));
        assert!(validate_channel_name("A-z_0=9@x,y.z;", 200).is_ok());
    }

    #[test]
    fn length_limit_counts_the_prefix() {
        let ok = format!("private-{}", "a".repeat(192));
        assert_eq!(ok.len(), 200);
        assert_eq!(validate_channel_name(&ok, 200), Ok(Private));
        let long = format!("{ok}a");
        assert_eq!(
            validate_channel_name(&long, 200),
            Err(ChannelNameError::TooLong {
                length: 201,
                max: 200
            })
        );
        assert!(validate_channel_name(&"a".repeat(165), 164).is_err());
    }
}
