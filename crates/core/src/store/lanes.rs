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
//! SQLite, in process, runs it as a few small ones, with [`Walk`] choosing
//! in between.

use uuid::Uuid;

use super::rows::RowExt;
use super::StoreError;

/// Passes a claim runs while lanes are found. A pass falls short of `max`
/// when its lanes hold fewer due jobs than their quotas; the next pass
/// asks the lanes left.
pub(crate) const PASSES: usize = 4;

/// Passes a claim may go on to while each walk comes back full: lanes
/// with little room each (one import at a time per provider) give a job
/// or two a lane, so a claim for many slots needs many lanes.
const MAX_PASSES: usize = 64;

/// Whether a claim that still has slots to fill runs another pass, after
/// `done` passes, the last of which, asked for `asked` jobs, walked
/// `walked` lanes (of at most [`walk_limit`]`(asked)`) and took `took`
/// jobs. The first [`PASSES`] run while lanes are found; more only while
/// walks come back full and take jobs, so a claim stops once a walk runs
/// short or gives nothing.
pub(crate) fn another_pass(done: usize, asked: u32, walked: i64, took: usize) -> bool {
    if walked <= 0 {
        return false;
    }
    done < PASSES || (done < MAX_PASSES && walked >= walk_limit(asked) && took > 0)
}

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

    /// Keeps up to `max` of the lanes' candidates (`candidates[i]`: lane
    /// i's next due jobs, in order, at most its quota), every lane's first
    /// before any lane's second, and says what the pass leaves behind.
    pub fn pick(&self, candidates: &[Vec<Uuid>], max: u32) -> (Vec<Uuid>, PassOutcome) {
        let mut picked = Vec::new();
        let mut cursor = None;
        let deepest = candidates.iter().map(Vec::len).max().unwrap_or(0);
        'rounds: for round in 0..deepest {
            for (lane, ids) in self.lanes.iter().zip(candidates) {
                if picked.len() as u32 >= max {
                    break 'rounds;
                }
                if let Some(id) = ids.get(round) {
                    picked.push(*id);
                    cursor = Some(lane.id);
                }
            }
        }
        let short = self
            .lanes
            .iter()
            .zip(candidates)
            .zip(&self.quotas)
            .filter(|((_, ids), quota)| (ids.len() as i64) < **quota)
            .map(|((lane, _), _)| lane.id)
            .collect();
        (picked, PassOutcome { cursor, short })
    }
}

/// What a claim pass leaves behind: the cursor's new lane (that of the
/// last job kept; `None` when none was) and the lanes that had fewer due
/// jobs than asked, whose `ready_at` must be read again (they may have run
/// dry, or have only jobs due later).
pub(crate) struct PassOutcome {
    pub cursor: Option<i64>,
    pub short: Vec<i64>,
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
    fn passes_go_on_past_the_usual_number_only_while_walks_are_full_and_fruitful() {
        // a claim of 512 walks 72 lanes
        // no lane found: stop at once
        assert!(!another_pass(1, 512, 0, 0));
        // the usual passes run while lanes are found, even short ones
        assert!(another_pass(1, 512, 3, 0));
        assert!(another_pass(PASSES - 1, 512, 3, 3));
        // beyond them, only a full walk that took jobs goes on
        assert!(!another_pass(PASSES, 512, 71, 71));
        assert!(!another_pass(PASSES, 512, 72, 0));
        assert!(another_pass(PASSES, 512, 72, 72));
        // and never past the cap
        assert!(another_pass(MAX_PASSES - 1, 512, 72, 72));
        assert!(!another_pass(MAX_PASSES, 512, 72, 72));
    }

    #[test]
    fn small_claims_walk_a_lane_per_job_and_large_ones_a_lane_per_chunk() {
        assert_eq!(walk_limit(1), 9);
        assert_eq!(walk_limit(8), 9);
        assert_eq!(walk_limit(512), 72);
    }

    #[test]
    fn picks_go_round_robin_the_cursor_stops_at_the_last_and_short_lanes_are_reread() {
        let walk = Walk {
            lanes: vec![lane(7, 9), lane(2, 9), lane(5, 9), lane(9, 9)],
            quotas: vec![2, 2, 2, 2],
        };
        let j = |n: u128| Uuid::from_u128(n);
        // lanes 7 and 5 have two due jobs, lane 2 one, lane 9 none
        let candidates = vec![vec![j(71), j(72)], vec![j(21)], vec![j(51), j(52)], vec![]];
        let (picked, pass) = walk.pick(&candidates, 10);
        assert_eq!(picked, vec![j(71), j(21), j(51), j(72), j(52)]);
        assert_eq!(pass.cursor, Some(5));
        assert_eq!(pass.short, vec![2, 9]);
        // cut short after the second job: the cursor stops at lane 2
        let (picked, pass) = walk.pick(&candidates, 2);
        assert_eq!(picked, vec![j(71), j(21)]);
        assert_eq!(pass.cursor, Some(2));
        assert_eq!(
            walk.pick(&[vec![], vec![], vec![], vec![]], 5).1.cursor,
            None
        );
    }
}
