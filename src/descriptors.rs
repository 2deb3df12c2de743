//! The process's file-descriptor limit, against which the connection caps
//! are set: each connection is a descriptor, and a process at its limit can
//! no longer accept, open its database or answer its own health checks.

/// Descriptors kept back for the database pool, provider clients, the
/// other listeners and files.
const RESERVED: u64 = 256;

/// `wanted` connections, or fewer when the descriptor limit (raised to its
/// hard maximum first, as servers do) leaves no room for them.
pub fn connections_within_limit(wanted: usize) -> usize {
    let Some(limit) = raise_limit() else {
        return wanted;
    };
    let room = usize::try_from(limit.saturating_sub(RESERVED)).unwrap_or(usize::MAX);
    if wanted > room {
        tracing::warn!(
            wanted,
            descriptor_limit = limit,
            allowed = room.max(1),
            "KESSAI_MAX_CONNECTIONS is above what the descriptor limit leaves room for; using less"
        );
        return room.max(1);
    }
    wanted
}

/// Raises the soft descriptor limit to the hard one; the soft limit after.
#[cfg(unix)]
fn raise_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit from the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn raise_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_within_the_limit_is_kept_and_one_beyond_it_is_lowered() {
        assert_eq!(connections_within_limit(10), 10);
        let limit = raise_limit().expect("a descriptor limit");
        let beyond = usize::try_from(limit).unwrap_or(usize::MAX / 2) * 2;
        let allowed = connections_within_limit(beyond);
        assert!(allowed < beyond && allowed as u64 <= limit, "{allowed}");
    }
}
