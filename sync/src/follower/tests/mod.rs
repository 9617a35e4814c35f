//! The follower's behaviour, one scenario per test, on real-format headers (`crate::test_chain`).

mod arrival_order;
mod scenarios;
