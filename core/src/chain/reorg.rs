//! Walking two chains back to their common ancestor, as Lotus's chain store does (`store.go`
//! `ReorgOps`, `exceedsForkLength`).
//!
//! Pure: tipsets come from a caller-supplied `lookup(&TipSetKey) -> Option<T>`, so the same code
//! runs over an in-memory map, a database of observed tipsets, or a test fixture.

use thiserror::Error;

use super::tipset::{TipSetKey, TipSetLike};

/// `policy.ChainFinality`: the deepest reorg a Lotus node accepts (in tipsets on its own chain).
pub const CHAIN_FINALITY: u64 = 900;

/// Why a walk back along a chain could not complete.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChainWalkError {
    #[error("tipset {0} is not available")]
    Missing(TipSetKey),
    #[error("parent {parent} of {child} is at height {parent_height}, not below {child_height}")]
    HeightNotDecreasing {
        child: TipSetKey,
        child_height: i64,
        parent: TipSetKey,
        parent_height: i64,
    },
    #[error("walked back to genesis {0} without meeting the other chain")]
    NoCommonAncestor(TipSetKey),
}

/// Step from `ts` to its parent, refusing lookups that would loop forever.
fn parent_of<T, F>(ts: &T, lookup: &mut F) -> Result<T, ChainWalkError>
where
    T: TipSetLike,
    F: FnMut(&TipSetKey) -> Option<T>,
{
    if ts.height() <= 0 {
        return Err(ChainWalkError::NoCommonAncestor(ts.key().clone()));
    }
    let parent =
        lookup(ts.parents()).ok_or_else(|| ChainWalkError::Missing(ts.parents().clone()))?;
    if parent.height() >= ts.height() {
        return Err(ChainWalkError::HeightNotDecreasing {
            child: ts.key().clone(),
            child_height: ts.height(),
            parent: parent.key().clone(),
            parent_height: parent.height(),
        });
    }
    Ok(parent)
}

/// The tipsets a head change reverts and applies, as Lotus computes them for the
/// `sync:head_change` journal event (`RevertCount`, `ApplyCount`) and `ChainNotify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReorgOps<T> {
    /// Tipsets of the old chain above the common ancestor, old head first.
    pub revert: Vec<T>,
    /// Tipsets of the new chain above the common ancestor, new head first (Lotus's order; its
    /// notifier reverses this before publishing — see [`ReorgOps::apply_oldest_first`]).
    pub apply: Vec<T>,
}

impl<T> ReorgOps<T> {
    pub fn revert_count(&self) -> usize {
        self.revert.len()
    }

    pub fn apply_count(&self) -> usize {
        self.apply.len()
    }

    /// The apply list in the order ChainNotify publishes it: lowest height first.
    pub fn apply_oldest_first(&self) -> impl Iterator<Item = &T> {
        self.apply.iter().rev()
    }
}

/// Lotus's `ReorgOps(old, new)`: step back whichever side is higher; on equal heights step the
/// *new* side; stop when both sides are the same tipset. Every tipset stepped over is recorded
/// on its side. Null rounds contribute nothing (there is no tipset to step over), and the common
/// ancestor is in neither list.
pub fn reorg_ops<T, F>(old: &T, new: &T, mut lookup: F) -> Result<ReorgOps<T>, ChainWalkError>
where
    T: TipSetLike + Clone,
    F: FnMut(&TipSetKey) -> Option<T>,
{
    let (mut left, mut right) = (old.clone(), new.clone());
    let (mut revert, mut apply) = (Vec::new(), Vec::new());
    while left.key() != right.key() {
        if left.height() > right.height() {
            let parent = parent_of(&left, &mut lookup)?;
            revert.push(std::mem::replace(&mut left, parent));
        } else {
            let parent = parent_of(&right, &mut lookup)?;
            apply.push(std::mem::replace(&mut right, parent));
        }
    }
    Ok(ReorgOps { revert, apply })
}

/// Lotus's `exceedsForkLength(synced, external)`: would adopting `external` revert
/// `max_fork_length` or more tipsets of the `synced` chain?
///
/// Walks back at most `max_fork_length` tipsets on the synced side (bringing the external side
/// down to the synced height each time) looking for the common ancestor. Reaching genesis, or
/// the `checkpoint` tipset, without meeting the external chain counts as exceeding. A fork of
/// depth `max_fork_length − 1` is accepted; one of depth `max_fork_length` is not.
pub fn exceeds_fork_length<T, F>(
    synced: &T,
    external: &T,
    max_fork_length: u64,
    checkpoint: Option<&TipSetKey>,
    mut lookup: F,
) -> Result<bool, ChainWalkError>
where
    T: TipSetLike + Clone,
    F: FnMut(&TipSetKey) -> Option<T>,
{
    let (mut synced, mut external) = (synced.clone(), external.clone());
    for _ in 0..max_fork_length {
        while external.height() > synced.height() {
            if external.height() == 0 {
                return Ok(true);
            }
            external = parent_of(&external, &mut lookup)?;
        }
        if synced.key() == external.key() {
            return Ok(false);
        }
        if checkpoint == Some(synced.key()) {
            return Ok(true);
        }
        if synced.height() == 0 {
            return Ok(true);
        }
        synced = parent_of(&synced, &mut lookup)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::super::cbor::block_cid;
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    /// A tipset reduced to what the walks need.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Node {
        key: TipSetKey,
        height: i64,
        parents: TipSetKey,
    }

    impl TipSetLike for Node {
        fn key(&self) -> &TipSetKey {
            &self.key
        }
        fn height(&self) -> i64 {
            self.height
        }
        fn parents(&self) -> &TipSetKey {
            &self.parents
        }
    }

    fn key(name: &str) -> TipSetKey {
        TipSetKey::new(vec![block_cid(name.as_bytes())])
    }

    /// A fork tree: node 0 is genesis; node i > 0 hangs off an earlier node.
    #[derive(Debug, Clone)]
    struct Tree {
        nodes: Vec<Node>,
        by_key: HashMap<TipSetKey, Node>,
    }

    impl Tree {
        fn new() -> Self {
            let genesis = Node {
                key: key("n0"),
                height: 0,
                parents: TipSetKey::default(),
            };
            let mut tree = Tree {
                nodes: vec![],
                by_key: HashMap::new(),
            };
            tree.insert(genesis);
            tree
        }

        fn insert(&mut self, node: Node) -> usize {
            self.by_key.insert(node.key.clone(), node.clone());
            self.nodes.push(node);
            self.nodes.len() - 1
        }

        /// A child of node `parent`, `gap` epochs later (gap > 1 = null rounds in between).
        fn child(&mut self, parent: usize, gap: i64) -> usize {
            let p = self.nodes[parent].clone();
            let name = format!("n{}", self.nodes.len());
            self.insert(Node {
                key: key(&name),
                height: p.height + gap,
                parents: p.key,
            })
        }

        fn lookup(&self) -> impl FnMut(&TipSetKey) -> Option<Node> + '_ {
            |k| self.by_key.get(k).cloned()
        }

        /// Brute-force reference: the path from `i` to genesis, head first.
        fn path(&self, i: usize) -> Vec<TipSetKey> {
            let mut out = vec![];
            let mut cur = self.nodes[i].clone();
            loop {
                out.push(cur.key.clone());
                match self.by_key.get(&cur.parents) {
                    Some(p) => cur = p.clone(),
                    None => return out,
                }
            }
        }

        /// Reference reorg: ancestors(old) \ ancestors(new) and the reverse, head first.
        fn reference(&self, old: usize, new: usize) -> (Vec<TipSetKey>, Vec<TipSetKey>) {
            let (po, pn) = (self.path(old), self.path(new));
            let (so, sn): (HashSet<_>, HashSet<_>) =
                (po.iter().cloned().collect(), pn.iter().cloned().collect());
            (
                po.into_iter().filter(|k| !sn.contains(k)).collect(),
                pn.into_iter().filter(|k| !so.contains(k)).collect(),
            )
        }

        fn ops(&self, old: usize, new: usize) -> ReorgOps<Node> {
            reorg_ops(&self.nodes[old], &self.nodes[new], self.lookup()).unwrap()
        }
    }

    fn keys(list: &[Node]) -> Vec<TipSetKey> {
        list.iter().map(|n| n.key.clone()).collect()
    }

    /// Random trees: each new node picks a parent among the existing ones and a gap of 1–3 epochs.
    fn tree_strategy() -> impl Strategy<Value = Tree> {
        proptest::collection::vec((any::<prop::sample::Index>(), 1i64..=3), 1..40).prop_map(
            |steps| {
                let mut tree = Tree::new();
                for (parent, gap) in steps {
                    let parent = parent.index(tree.nodes.len());
                    tree.child(parent, gap);
                }
                tree
            },
        )
    }

    proptest! {
        #[test]
        fn reorg_matches_set_difference_reference(tree in tree_strategy(), a: prop::sample::Index, b: prop::sample::Index) {
            let (old, new) = (a.index(tree.nodes.len()), b.index(tree.nodes.len()));
            let ops = tree.ops(old, new);
            let (revert, apply) = tree.reference(old, new);
            prop_assert_eq!(keys(&ops.revert), revert);
            prop_assert_eq!(keys(&ops.apply), apply);
        }

        #[test]
        fn swapping_old_and_new_swaps_revert_and_apply(tree in tree_strategy(), a: prop::sample::Index, b: prop::sample::Index) {
            let (old, new) = (a.index(tree.nodes.len()), b.index(tree.nodes.len()));
            let forward = tree.ops(old, new);
            let backward = tree.ops(new, old);
            prop_assert_eq!(forward.revert, backward.apply);
            prop_assert_eq!(forward.apply, backward.revert);
        }

        #[test]
        fn extending_the_head_applies_exactly_one(mut tree in tree_strategy(), a: prop::sample::Index, gap in 1i64..5) {
            let head = a.index(tree.nodes.len());
            let child = tree.child(head, gap);
            let ops = tree.ops(head, child);
            prop_assert_eq!((ops.revert_count(), ops.apply_count()), (0, 1));
            prop_assert_eq!(&ops.apply[0], &tree.nodes[child]);
        }

        #[test]
        fn widening_the_head_reverts_one_and_applies_one(mut tree in tree_strategy(), a: prop::sample::Index) {
            let head = a.index(tree.nodes.len());
            prop_assume!(head != 0);
            // {A} -> {A, B}: same height and parents, a different key.
            let narrow = tree.nodes[head].clone();
            let mut wide_key = narrow.key.clone().into_cids();
            wide_key.push(block_cid(b"B"));
            let wide = Node { key: TipSetKey::new(wide_key), ..narrow.clone() };
            let wide_idx = tree.insert(wide.clone());
            let ops = tree.ops(head, wide_idx);
            prop_assert_eq!((ops.revert_count(), ops.apply_count()), (1, 1));
            prop_assert_eq!(&ops.revert[0], &narrow);
            prop_assert_eq!(&ops.apply[0], &wide);
        }

        /// The same tree shape with extra null rounds between tipsets gives the same counts.
        #[test]
        fn null_rounds_add_nothing(steps in proptest::collection::vec((any::<prop::sample::Index>(), 1i64..=3), 1..30),
                                   a: prop::sample::Index, b: prop::sample::Index) {
            let build = |stretch: bool| {
                let mut tree = Tree::new();
                for (parent, gap) in &steps {
                    let parent = parent.index(tree.nodes.len());
                    tree.child(parent, if stretch { *gap } else { 1 });
                }
                tree
            };
            let (dense, sparse) = (build(false), build(true));
            let (old, new) = (a.index(dense.nodes.len()), b.index(dense.nodes.len()));
            let (d, s) = (dense.ops(old, new), sparse.ops(old, new));
            prop_assert_eq!(keys(&d.revert), keys(&s.revert));
            prop_assert_eq!(keys(&d.apply), keys(&s.apply));
        }

        /// exceeds_fork_length is exactly "the synced side would revert ≥ limit tipsets, or hit
        /// the checkpoint above the common ancestor".
        #[test]
        fn fork_length_matches_reference(tree in tree_strategy(), a: prop::sample::Index, b: prop::sample::Index,
                                         limit in 1u64..8, checkpoint_pick: prop::sample::Index, use_checkpoint: bool) {
            let (synced, external) = (a.index(tree.nodes.len()), b.index(tree.nodes.len()));
            let (revert, _) = tree.reference(synced, external);
            let synced_path = tree.path(synced);
            let checkpoint = use_checkpoint.then(|| synced_path[checkpoint_pick.index(synced_path.len())].clone());
            let checkpoint_depth = checkpoint.as_ref().and_then(|c| synced_path.iter().position(|k| k == c));
            let depth = revert.len();
            let expected = depth as u64 >= limit || checkpoint_depth.is_some_and(|c| c < depth && (c as u64) < limit);
            let got = exceeds_fork_length(&tree.nodes[synced], &tree.nodes[external], limit, checkpoint.as_ref(), tree.lookup()).unwrap();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn fork_length_boundary_is_chain_finality() {
        // A trunk and a fork branching off at the root; the synced side is `depth` tipsets deep.
        for (depth, exceeds) in [(1, false), (899, false), (900, true), (901, true)] {
            let mut tree = Tree::new();
            let mut synced = 0;
            for _ in 0..depth {
                synced = tree.child(synced, 1);
            }
            let external = tree.child(0, 1);
            let external = tree.child(external, 5000);
            let got = exceeds_fork_length(
                &tree.nodes[synced],
                &tree.nodes[external],
                CHAIN_FINALITY,
                None,
                tree.lookup(),
            );
            assert_eq!(got, Ok(exceeds), "depth {depth}");
        }
        // Fast-forward (external extends synced) is a fork of length 0.
        let mut tree = Tree::new();
        let head = tree.child(0, 1);
        let next = tree.child(head, 1);
        assert_eq!(
            exceeds_fork_length(
                &tree.nodes[head],
                &tree.nodes[next],
                CHAIN_FINALITY,
                None,
                tree.lookup()
            ),
            Ok(false)
        );
    }

    #[test]
    fn different_genesis_and_missing_tipsets_are_errors_or_exceed() {
        let mut tree = Tree::new();
        let a = tree.child(0, 1);
        let other_genesis = tree.insert(Node {
            key: key("other"),
            height: 0,
            parents: TipSetKey::default(),
        });
        let b = tree.child(other_genesis, 1);
        assert!(matches!(
            reorg_ops(&tree.nodes[a], &tree.nodes[b], tree.lookup()),
            Err(ChainWalkError::NoCommonAncestor(_))
        ));
        assert_eq!(
            exceeds_fork_length(&tree.nodes[a], &tree.nodes[b], 900, None, tree.lookup()),
            Ok(true)
        );

        let orphan = Node {
            key: key("orphan"),
            height: 7,
            parents: key("nowhere"),
        };
        assert_eq!(
            reorg_ops(&tree.nodes[a], &orphan, tree.lookup()),
            Err(ChainWalkError::Missing(key("nowhere")))
        );
        // A store that returns a "parent" at the same height would loop forever in a naive walk.
        let looping = Node {
            key: key("loop"),
            height: 3,
            parents: key("loop"),
        };
        let mut lookup = |_: &TipSetKey| Some(looping.clone());
        assert!(matches!(
            reorg_ops(&tree.nodes[a], &looping, &mut lookup),
            Err(ChainWalkError::HeightNotDecreasing { .. })
        ));
    }

    #[test]
    fn equal_heights_step_the_new_side_first() {
        // g -> x(1) -> a(2) is old, g -> y(1) -> b(2) is new. Lotus steps `new` on every tie, so
        // the parents it asks for are y, x, g, g (stepping `old` first would ask x, y, g, g).
        let mut tree = Tree::new();
        let x = tree.child(0, 1);
        let a = tree.child(x, 1);
        let y = tree.child(0, 1);
        let b = tree.child(y, 1);
        let mut asked = vec![];
        let lookup = |k: &TipSetKey| {
            asked.push(k.clone());
            tree.by_key.get(k).cloned()
        };
        let ops = reorg_ops(&tree.nodes[a], &tree.nodes[b], lookup).unwrap();
        let g = tree.nodes[0].key.clone();
        assert_eq!(
            asked,
            vec![
                tree.nodes[y].key.clone(),
                tree.nodes[x].key.clone(),
                g.clone(),
                g
            ]
        );
        assert_eq!(
            keys(&ops.revert),
            vec![tree.nodes[a].key.clone(), tree.nodes[x].key.clone()]
        );
        assert_eq!(
            keys(&ops.apply),
            vec![tree.nodes[b].key.clone(), tree.nodes[y].key.clone()]
        );
        let oldest_first: Vec<_> = ops.apply_oldest_first().map(|n| n.height).collect();
        assert_eq!(oldest_first, vec![1, 2]);
    }
}
