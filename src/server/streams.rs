//! Live progress streams held open per account: each costs a connection
//! and a database read a second, so one account (or a leaked token) gets a
//! handful, not as many as it cares to open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sgp_import_core::model::UserId;

/// Streams one account may hold open at once (a few browser tabs).
pub const MAX_STREAMS_PER_USER: u32 = 5;

#[derive(Clone, Default)]
pub struct StreamSlots {
    open: Arc<Mutex<HashMap<UserId, u32>>>,
}

/// One open stream; its slot is given back when it is dropped (the stream
/// ended or the client went away).
pub struct StreamSlot {
    user: UserId,
    open: Arc<Mutex<HashMap<UserId, u32>>>,
}

impl StreamSlots {
    /// A slot for `user`, unless they already hold `MAX_STREAMS_PER_USER`.
    pub fn take(&self, user: UserId) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let held = open.entry(user).or_insert(0);
        if *held >= MAX_STREAMS_PER_USER {
            return None;
        }
        *held += 1;
        Some(StreamSlot {
            user,
            open: self.open.clone(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = open.get_mut(&self.user) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                open.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_user_and_given_back() {
        let slots = StreamSlots::default();
        let ana = UserId(uuid::Uuid::new_v4());
        let bia = UserId(uuid::Uuid::new_v4());
        let held: Vec<_> = (0..MAX_STREAMS_PER_USER)
            .map(|_| slots.take(ana).unwrap())
            .collect();
        assert!(slots.take(ana).is_none());
        assert!(slots.take(bia).is_some(), "another account is not affected");
        drop(held);
        assert!(slots.take(ana).is_some());
    }
}
