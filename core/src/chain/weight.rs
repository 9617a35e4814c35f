//! Chain weight and head choice (lotus `chain/consensus/filcns/weight.go`, `store.go`
//! `breakWeightTie`).
//!
//! `w(ts) = ParentWeight(ts) + 256·L + floor(256·L·ΣWinCount / 10)`, where
//! `L = bitlen(total quality-adjusted power at ts's parent state) − 1`. We have headers, not state,
//! so L is a parameter; [`infer_power_log2`] recovers it from any observed parent/child pair,
//! because a child's ParentWeight *is* its parent's weight. Within one epoch all rivals share the
//! parent state, hence L, and differ only in ΣWinCount.

use fvm_shared::bigint::Integer;
use num_bigint::BigInt;

use super::tipset::TipSet;

/// `build.WRatioNum`.
pub const W_RATIO_NUM: i64 = 1;
/// `build.WRatioDen`.
pub const W_RATIO_DEN: i64 = 2;
/// `build.BlocksPerEpoch` (expected leaders per epoch).
pub const BLOCKS_PER_EPOCH: i64 = 5;

/// `L` for a total power: `bitlen(power) − 1`. `None` for zero or negative power, where Lotus's
/// `Weight` returns an error.
pub fn power_log2(total_power: &BigInt) -> Option<u64> {
    (total_power.sign() == num_bigint::Sign::Plus).then(|| total_power.bits() - 1)
}

/// The weight formula on its inputs. Integer division is floored, like Go's `big.Int.Div`
/// (Euclidean, with a positive divisor) — not truncated, which differs for negative ΣWinCount.
pub fn weight_from_parts(parent_weight: &BigInt, power_log2: u64, win_count_sum: i64) -> BigInt {
    let l = BigInt::from(power_log2);
    let base: BigInt = &l << 8;
    let election: BigInt = ((&l * W_RATIO_NUM) << 8) * win_count_sum;
    let election = election.div_floor(&BigInt::from(BLOCKS_PER_EPOCH * W_RATIO_DEN));
    parent_weight + base + election
}

/// The weight of a tipset given `L` at its parent state.
pub fn tipset_weight(ts: &TipSet, power_log2: u64) -> BigInt {
    weight_from_parts(ts.parent_weight(), power_log2, ts.win_count_sum())
}

/// Find the `L` that turns `parent`'s (ParentWeight, ΣWinCount) into `child_parent_weight`, the
/// ParentWeight of any child of `parent`. `None` if no L fits (the pair is not parent/child, or
/// the weights come from a different formula).
pub fn infer_power_log2(parent: &TipSet, child_parent_weight: &BigInt) -> Option<u64> {
    infer_power_log2_from_parts(
        parent.parent_weight(),
        parent.win_count_sum(),
        child_parent_weight,
    )
}

/// [`infer_power_log2`] on raw values. The weight gain `256·L + floor(25.6·L·ΣWinCount)` grows
/// strictly with L, so at most one L fits; we solve the linear estimate and test its neighbours.
pub fn infer_power_log2_from_parts(
    parent_weight: &BigInt,
    win_count_sum: i64,
    child_parent_weight: &BigInt,
) -> Option<u64> {
    let gain = child_parent_weight - parent_weight;
    // gain ≈ L · (256 + 256·ΣWinCount/10) = L · (2560 + 256·ΣWinCount) / 10
    let per_l_times_ten = 2560i128 + 256 * i128::from(win_count_sum);
    if per_l_times_ten <= 0 || gain.sign() == num_bigint::Sign::Minus {
        return None;
    }
    let scaled: BigInt = gain * 10;
    let estimate = scaled.div_floor(&BigInt::from(per_l_times_ten));
    let estimate = u64::try_from(estimate).ok()?;
    [
        estimate.checked_sub(1),
        Some(estimate),
        estimate.checked_add(1),
    ]
    .into_iter()
    .flatten()
    .find(|&l| &weight_from_parts(parent_weight, l, win_count_sum) == child_parent_weight)
}

/// Outcome of comparing two equally heavy tipsets ticket by ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieBreak {
    /// The first tipset has the smaller ticket at `index` (the first index where they differ).
    First { index: usize },
    /// The second tipset has the smaller ticket at `index`.
    Second { index: usize },
    /// The first min(n1, n2) tickets are equal; Lotus then keeps the second tipset.
    Unbroken,
}

/// Walk the first min(n1, n2) ticket-sorted blocks; the first strictly smaller ticket
/// (blake2b-256 of its VRF proof) wins. This is Lotus ≥ v1.12's `breakWeightTie`; older Lotus
/// only tested whether `ts1` was smaller at some index, never stopping when `ts2` was.
pub fn compare_tickets(ts1: &TipSet, ts2: &TipSet) -> TieBreak {
    for (index, (b1, b2)) in ts1.blocks().iter().zip(ts2.blocks()).enumerate() {
        match b1.ticket_digest().cmp(&b2.ticket_digest()) {
            std::cmp::Ordering::Less => return TieBreak::First { index },
            std::cmp::Ordering::Greater => return TieBreak::Second { index },
            std::cmp::Ordering::Equal => {}
        }
    }
    TieBreak::Unbroken
}

/// Lotus `breakWeightTie(ts1, ts2)`: true if `ts1` wins; an unbroken tie goes to `ts2`.
pub fn break_weight_tie(ts1: &TipSet, ts2: &TipSet) -> bool {
    matches!(compare_tickets(ts1, ts2), TieBreak::First { .. })
}

/// Which tipset a node keeps as its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadChoice {
    /// The candidate is strictly heavier.
    CandidateHeavier,
    /// Equal weight, the candidate has the smaller ticket at `index` (Lotus logs
    /// "weight tie broken in favour of {candidate} against {current}").
    CandidateWinsTie { index: usize },
    /// The current head is strictly heavier.
    CurrentHeavier,
    /// Equal weight, the current head has the smaller ticket at `index`.
    CurrentWinsTie { index: usize },
    /// Equal weight and equal tickets: the current head stays (Lotus WARNs "left unbroken").
    TieUnbroken,
    /// Candidate and current are the same tipset.
    Same,
}

impl HeadChoice {
    pub fn switches_to_candidate(self) -> bool {
        matches!(self, Self::CandidateHeavier | Self::CandidateWinsTie { .. })
    }
}

/// Lotus's head rule: heavier wins; on equal weight `breakWeightTie(candidate, current)`, which
/// keeps the current head when nothing separates them. The fork-length limit is a separate check
/// (see `super::reorg::exceeds_fork_length`).
pub fn choose_head(
    candidate: &TipSet,
    candidate_weight: &BigInt,
    current: &TipSet,
    current_weight: &BigInt,
) -> HeadChoice {
    if candidate.key() == current.key() {
        return HeadChoice::Same;
    }
    match candidate_weight.cmp(current_weight) {
        std::cmp::Ordering::Greater => HeadChoice::CandidateHeavier,
        std::cmp::Ordering::Less => HeadChoice::CurrentHeavier,
        std::cmp::Ordering::Equal => match compare_tickets(candidate, current) {
            TieBreak::First { index } => HeadChoice::CandidateWinsTie { index },
            TieBreak::Second { index } => HeadChoice::CurrentWinsTie { index },
            TieBreak::Unbroken => HeadChoice::TieUnbroken,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::tipset::tests::sibling;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formula_matches_real_mainnet_weights() {
        // lotus-facts §6.1: heights 1–3 of mainnet, L = 49, one then two wins.
        assert_eq!(
            weight_from_parts(&BigInt::from(12544), 49, 1),
            BigInt::from(26342)
        );
        assert_eq!(
            weight_from_parts(&BigInt::from(26342), 49, 2),
            BigInt::from(41394)
        );
        assert_eq!(
            infer_power_log2_from_parts(&BigInt::from(12544), 1, &BigInt::from(26342)),
            Some(49)
        );
        assert_eq!(
            infer_power_log2_from_parts(&BigInt::from(26342), 2, &BigInt::from(41394)),
            Some(49)
        );
        assert_eq!(
            infer_power_log2_from_parts(&BigInt::from(26342), 2, &BigInt::from(41395)),
            None
        );
        assert_eq!(
            infer_power_log2_from_parts(&BigInt::from(26342), 2, &BigInt::from(1)),
            None
        );
    }

    #[test]
    fn power_log2_is_bitlen_minus_one() {
        assert_eq!(power_log2(&BigInt::from(1)), Some(0));
        assert_eq!(power_log2(&(BigInt::from(1) << 49)), Some(49));
        assert_eq!(power_log2(&((BigInt::from(1) << 50) - 1)), Some(49));
        assert_eq!(power_log2(&BigInt::from(0)), None);
        assert_eq!(power_log2(&BigInt::from(-5)), None);
    }

    #[test]
    fn division_floors_for_negative_win_counts() {
        // 256·1·(−1)/10 = −25.6 → −26 (Go's Euclidean division), not −25.
        assert_eq!(
            weight_from_parts(&BigInt::from(0), 1, -1),
            BigInt::from(256 - 26)
        );
    }

    #[test]
    fn tie_break_walks_tickets_in_order() {
        // Find two single-block tipsets and order them by ticket digest.
        let (x, y) = (sibling(b"x", 1000), sibling(b"y", 1001));
        let (low, high) = if x.ticket_digest() < y.ticket_digest() {
            (x, y)
        } else {
            (y, x)
        };
        let low_ts = TipSet::new(vec![low.clone()]).unwrap();
        let high_ts = TipSet::new(vec![high.clone()]).unwrap();
        let w = BigInt::from(100);
        assert_eq!(
            compare_tickets(&low_ts, &high_ts),
            TieBreak::First { index: 0 }
        );
        assert!(break_weight_tie(&low_ts, &high_ts));
        assert!(!break_weight_tie(&high_ts, &low_ts));
        assert_eq!(
            choose_head(&low_ts, &w, &high_ts, &w),
            HeadChoice::CandidateWinsTie { index: 0 }
        );
        assert_eq!(
            choose_head(&high_ts, &w, &low_ts, &w),
            HeadChoice::CurrentWinsTie { index: 0 }
        );
        assert_eq!(
            choose_head(&high_ts, &BigInt::from(101), &low_ts, &w),
            HeadChoice::CandidateHeavier
        );
        assert_eq!(
            choose_head(&low_ts, &w, &high_ts, &BigInt::from(101)),
            HeadChoice::CurrentHeavier
        );
        assert_eq!(choose_head(&low_ts, &w, &low_ts, &w), HeadChoice::Same);

        // {low} vs {low, high}: the first ticket is shared, min(n1, n2) = 1 → unbroken → current.
        let mut other_low = low.clone();
        other_low.miner = super::super::address::Address::new_id(2000).unwrap(); // same ticket, other block
        let wide = TipSet::new(vec![other_low, high]).unwrap();
        assert_eq!(compare_tickets(&low_ts, &wide), TieBreak::Unbroken);
        assert_eq!(choose_head(&low_ts, &w, &wide, &w), HeadChoice::TieUnbroken);
        assert_eq!(choose_head(&wide, &w, &low_ts, &w), HeadChoice::TieUnbroken);
        assert!(!choose_head(&wide, &w, &low_ts, &w).switches_to_candidate());
    }

    #[test]
    fn first_difference_decides_even_if_later_tickets_disagree() {
        // Three tickets with known digest order a < b < c.
        let mut blocks: Vec<_> = [b"p", b"q", b"r"]
            .iter()
            .enumerate()
            .map(|(i, t)| sibling(*t, 1000 + i as u64))
            .collect();
        blocks.sort_by_key(|b| b.ticket_digest());
        let [a, b, c] = [blocks[0].clone(), blocks[1].clone(), blocks[2].clone()];
        let mut a2 = a.clone();
        a2.miner = super::super::address::Address::new_id(3000).unwrap();
        // ts1 = {a, c}, ts2 = {a', b}: equal at 0, ts2 smaller at 1.
        let ts1 = TipSet::new(vec![a, c]).unwrap();
        let ts2 = TipSet::new(vec![a2, b]).unwrap();
        assert_eq!(compare_tickets(&ts1, &ts2), TieBreak::Second { index: 1 });
        assert!(!break_weight_tie(&ts1, &ts2));
        assert!(break_weight_tie(&ts2, &ts1));
    }

    proptest! {
        /// Whatever the parent weight, L and ΣWinCount ≥ 0, the inferred L is the one used.
        #[test]
        fn inference_inverts_the_formula(pw in 0u64..u64::MAX, l in 0u64..200, wins in 0i64..100) {
            let pw = BigInt::from(pw);
            let child = weight_from_parts(&pw, l, wins);
            prop_assert_eq!(infer_power_log2_from_parts(&pw, wins, &child), Some(l));
        }
    }
}
