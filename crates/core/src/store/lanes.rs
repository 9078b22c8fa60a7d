//! Round-robin claiming across providers, the part both databases share.
//!
//! A lane is one provider's jobs of one kind (table `job_lanes`). A claim
//! runs in passes. Each pass walks [`walk_limit`] lanes that have a job
//! due and room under their per-provider limit, in id order
//! from the lane after the cursor (where the last claim stopped), wrapping
//! around; asks each for its next due jobs, earliest due then oldest (a
//! [`quota`](quotas) per lane); keeps
//! `max` of them in round-robin order (every lane's first job, then every
//! lane's second...); and moves the cursor to the lane of the last job
//! kept. A pass reads about `max / 8` lanes and `max` jobs, whatever the
//! length of the queue, and writes one cursor row plus the lanes that ran
//! dry.
//!
//! PostgreSQL runs a pass as one statement (round trips are its cost);
//! SQLite, in process, runs it as a few, with [`Walk`] doing the
//! arithmetic in between.

use uuid::Uuid;

use super::rows::RowExt;
use super::{ClaimedJob, StoreError};

/// Passes per claim. A pass falls short of `max` when its lanes hold fewer
/// due jobs than their quotas; the next pass asks the lanes left.
pub(crate) const PASSES: usize = 4;

/// Lanes walked beyond what `max` needs, so that a few lanes that ran dry
/// without the claim knowing (their last job was cancelled) do not leave a
/// small claim empty-handed while other lanes wait.
const SLACK: u32 = 8;

/// The jobs a large claim takes from each lane it visits. Taking a few at
/// a time, instead of one from each of `max` lanes, keeps a batch's writes
/// on fewer providers' rows and index pages; a claim of up to this many
/// jobs is still strictly one job per lane per round.
const CHUNK: u32 = 8;

/// How many lanes a pass walks for a claim of `max` jobs.
pub(crate) fn walk_limit(max: u32) -> i64 {
    i64::from(max.div_ceil(CHUNK) + SLACK)
}

/// A lane read by a claim pass, in walk order.
#[derive(Debug, Clone)]
pub(crate) struct Lane {
    pub id: i64,
    pub tenant: Uuid,
    pub kind: String,
    /// Jobs this lane may start now: its per-provider limit minus its
    /// running jobs, or the claim's `max` for kinds without a limit.
    pub room: i64,
}

/// The lanes of one pass and what each was asked for.
pub(crate) struct Walk {
    pub lanes: Vec<Lane>,
    pub quotas: Vec<i64>,
}

impl Walk {
    /// Reads the rows of a lane walk (`id`, `tenant_id`, `kind`, `room`)
    /// and shares `max` among them.
    pub fn from_rows<R: RowExt>(rows: &[R], max: u32) -> Result<Self, StoreError> {
        let lanes = rows
            .iter()
            .map(|row| {
                Ok(Lane {
                    id: row.int("id")?,
                    tenant: row.uuid("tenant_id")?,
                    kind: row.text("kind")?,
                    room: row.int("room")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let quotas = quotas(&lanes, max);
        Ok(Walk { lanes, quotas })
    }

    /// What the pass leaves behind: the cursor's new lane (the lane of the
    /// last job kept, `None` when none was) and the lanes that gave fewer
    /// jobs than asked, whose `ready_at` must be read again (they may have
    /// run dry, or have only jobs due later).
    pub fn outcome<'a>(&self, claimed: impl IntoIterator<Item = (Uuid, &'a str)>) -> PassOutcome {
        let mut served = vec![0i64; self.lanes.len()];
        for (tenant, kind) in claimed {
            if let Some(i) = self
                .lanes
                .iter()
                .position(|l| l.tenant == tenant && l.kind == kind)
            {
                served[i] += 1;
            }
        }
        // jobs were kept in the order (n-th job of its lane, walk order):
        // the last one kept is the lane that gave most, latest in the walk
        let cursor = (0..self.lanes.len())
            .filter(|&i| served[i] > 0)
            .max_by_key(|&i| (served[i], i))
            .map(|i| self.lanes[i].id);
        let short = (0..self.lanes.len())
            .filter(|&i| served[i] < self.quotas[i])
            .map(|i| self.lanes[i].id)
            .collect();
        PassOutcome { cursor, short }
    }
}

pub(crate) struct PassOutcome {
    pub cursor: Option<i64>,
    pub short: Vec<i64>,
}

/// The lane of each claimed job, for [`Walk::outcome`].
pub(crate) fn lanes_of(claimed: &[ClaimedJob]) -> impl Iterator<Item = (Uuid, &str)> {
    claimed.iter().map(|c| (c.lease.tenant.0, c.kind.as_str()))
}

/// How many jobs to ask of each lane so that `max` can be filled round-robin:
/// an equal share of `max` (rounded up), never more than the lane's room.
/// A lane with fewer jobs leaves its share to the next pass.
pub(crate) fn quotas(lanes: &[Lane], max: u32) -> Vec<i64> {
    if lanes.is_empty() {
        return Vec::new();
    }
    let share = u64::from(max).div_ceil(lanes.len() as u64).max(1) as i64;
    lanes.iter().map(|l| l.room.min(share).max(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(id: i64, room: i64) -> Lane {
        Lane {
            id,
            tenant: Uuid::from_u128(id as u128),
            kind: "import".into(),
            room,
        }
    }

    #[test]
    fn quotas_share_the_batch_within_each_lanes_room() {
        let lanes = [lane(1, 1), lane(2, 100), lane(3, 100)];
        assert_eq!(quotas(&lanes, 10), vec![1, 4, 4]);
        assert_eq!(quotas(&lanes, 1), vec![1, 1, 1]);
        assert_eq!(quotas(&[lane(1, 500)], 100), vec![100]);
        assert!(quotas(&[], 10).is_empty());
    }

    #[test]
    fn small_claims_walk_a_lane_per_job_and_large_ones_a_lane_per_chunk() {
        assert_eq!(walk_limit(1), 9);
        assert_eq!(walk_limit(8), 9);
        assert_eq!(walk_limit(512), 72);
    }

    #[test]
    fn the_cursor_stops_at_the_last_job_kept_and_short_lanes_are_reread() {
        let walk = Walk {
            lanes: vec![lane(7, 9), lane(2, 9), lane(5, 9), lane(9, 9)],
            quotas: vec![2, 2, 2, 2],
        };
        let t = |id: u128| (Uuid::from_u128(id), "import");
        // lanes 7 and 5 gave two jobs, lane 2 one, lane 9 none
        let out = walk.outcome([t(7), t(2), t(5), t(7), t(5)]);
        assert_eq!(out.cursor, Some(5));
        assert_eq!(out.short, vec![2, 9]);
        // one round, cut short after the second lane
        let out = walk.outcome([t(7), t(2)]);
        assert_eq!(out.cursor, Some(2));
        assert_eq!(walk.outcome([]).cursor, None);
    }
}
