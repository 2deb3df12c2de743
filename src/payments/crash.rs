//! Test-only crash points. `KESSAI_TEST_CRASH_AT=<point>[:<n>]` aborts the
//! process the n-th time it reaches `<point>` (the first time without
//! `:<n>`), so each window between the two commits of a provider call can be
//! tested deterministically: a crash there is what reconciliation must
//! survive. Never set in production.

use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The intent is committed; the provider has not been called.
    AfterIntentCommit,
    /// The provider answered; its outcome is not committed.
    AfterProviderAnswer,
    /// The outcome is committed; the caller has not been answered.
    AfterOutcomeCommit,
}

impl CrashPoint {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "after_intent_commit" => Some(CrashPoint::AfterIntentCommit),
            "after_provider_answer" => Some(CrashPoint::AfterProviderAnswer),
            "after_outcome_commit" => Some(CrashPoint::AfterOutcomeCommit),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct CrashSwitch {
    point: CrashPoint,
    nth: u32,
    seen: AtomicU32,
}

impl CrashSwitch {
    /// `after_provider_answer` or `after_provider_answer:3`.
    pub fn parse(value: &str) -> Option<Self> {
        let (name, nth) = match value.split_once(':') {
            Some((name, nth)) => (name, nth.parse().ok()?),
            None => (value, 1),
        };
        Some(Self {
            point: CrashPoint::parse(name)?,
            nth,
            seen: AtomicU32::new(0),
        })
    }

    pub fn reached(&self, point: CrashPoint) {
        if point == self.point && self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.nth {
            eprintln!("kessai: KESSAI_TEST_CRASH_AT reached {point:?}: aborting");
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_counts_parse() {
        let switch = CrashSwitch::parse("after_outcome_commit:3").unwrap();
        assert_eq!(
            (switch.point, switch.nth),
            (CrashPoint::AfterOutcomeCommit, 3)
        );
        assert_eq!(CrashSwitch::parse("after_intent_commit").unwrap().nth, 1);
        assert!(CrashSwitch::parse("whenever").is_none());
        assert!(CrashSwitch::parse("after_intent_commit:x").is_none());
    }

    #[test]
    fn other_points_never_abort() {
        let switch = CrashSwitch::parse("after_outcome_commit:2").unwrap();
        for _ in 0..10 {
            switch.reached(CrashPoint::AfterIntentCommit);
        }
        switch.reached(CrashPoint::AfterOutcomeCommit);
    }
}
