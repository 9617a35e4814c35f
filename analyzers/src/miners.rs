//! `lsync miners`: per-miner delay statistics from `block_delay` events, computed with polars.
//! All polars code lives in this file: its API moves between minor versions.

use crate::query::Filter;
use crate::store::{Result, StoreError};
use polars::prelude::*;
use rusqlite::{params_from_iter, types::Value as SqlValue, Connection};
use serde::Serialize;

/// A late block in a miner's worst list.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LateBlock {
    pub cid: Option<String>,
    pub delay_s: f64,
    pub ts: Option<String>,
    pub node: String,
}

/// One miner's row.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MinerRow {
    pub miner: String,
    pub late_blocks: u64,
    pub mean_delay_s: f64,
    pub p50_delay_s: f64,
    pub p95_delay_s: f64,
    pub max_delay_s: f64,
    pub worst: Vec<LateBlock>,
}

struct Sample {
    miner: String,
    delay: f64,
    cid: Option<String>,
    ts: Option<String>,
    node: String,
}

/// Statistics per miner, worst (by p95, then max) first. `min_delay_s` filters the samples.
/// Samples are `block_seen` records where a node has them, else `block_delay` warnings.
pub fn miners(conn: &Connection, min_delay_s: f64, f: &Filter, worst_n: usize) -> Result<Vec<MinerRow>> {
    let mut sql = String::from(
        "SELECT e.miner, e.delay_s, e.ts_ns, e.ts_off, e.ts_prec, n.name,
                e.cids
         FROM events e JOIN sources s ON s.id = e.source_id JOIN nodes n ON n.id = s.node_id
         WHERE e.miner IS NOT NULL AND e.delay_s IS NOT NULL AND e.delay_s >= ?
           -- A node with lsync's first-seen records (every block, ms precision) is measured by
           -- them; other nodes by Lotus's `large delay` warnings (late blocks only, seconds).
           AND (e.kind = 'block_seen'
                OR (e.kind = 'block_delay' AND s.node_id NOT IN (
                    SELECT DISTINCT s2.node_id FROM events e2 JOIN sources s2 ON s2.id = e2.source_id WHERE e2.kind = 'block_seen')))",
    );
    let mut args = vec![SqlValue::Real(min_delay_s)];
    if let Some(node) = &f.node {
        sql.push_str(" AND n.name = ?");
        args.push(SqlValue::Text(node.clone()));
    }
    if let Some(t) = f.since {
        sql.push_str(" AND e.ts_ns >= ?");
        args.push(SqlValue::Integer(t.unix_nanos));
    }
    if let Some(t) = f.until {
        sql.push_str(" AND e.ts_ns <= ?");
        args.push(SqlValue::Integer(t.unix_nanos));
    }
    let mut stmt = conn.prepare(&sql)?;
    let samples: Vec<Sample> = stmt
        .query_map(params_from_iter(args), |r| {
            let ns: Option<i64> = r.get(2)?;
            let ts = ns.map(|ns| {
                lsync_core::Timestamp::from_unix_nanos(ns, r.get::<_, Option<i64>>(3).ok().flatten().unwrap_or(0) as i32, r.get::<_, Option<i64>>(4).ok().flatten().unwrap_or(3) as u8).to_string()
            });
            let cids: Option<String> = r.get(6)?;
            Ok(Sample { miner: r.get(0)?, delay: r.get(1)?, ts, node: r.get(5)?, cid: cids.and_then(|c| c.split(' ').next().map(str::to_string)) })
        })?
        .collect::<rusqlite::Result<_>>()?;
    if samples.is_empty() {
        return Ok(Vec::new());
    }
    let stats = stats_frame(&samples).map_err(|e| StoreError::Stats(e.to_string()))?;
    let mut rows = Vec::with_capacity(stats.len());
    for (miner, n, mean, p50, p95, max) in stats {
        let mut worst: Vec<&Sample> = samples.iter().filter(|s| s.miner == miner).collect();
        worst.sort_by(|a, b| b.delay.total_cmp(&a.delay).then_with(|| a.ts.cmp(&b.ts)));
        rows.push(MinerRow {
            miner,
            late_blocks: n,
            mean_delay_s: mean,
            p50_delay_s: p50,
            p95_delay_s: p95,
            max_delay_s: max,
            worst: worst
                .into_iter()
                .take(worst_n)
                .map(|s| LateBlock { cid: s.cid.clone(), delay_s: s.delay, ts: s.ts.clone(), node: s.node.clone() })
                .collect(),
        });
    }
    Ok(rows)
}

type StatRow = (String, u64, f64, f64, f64, f64);

/// Group-by in polars: count, mean, median, linear p95, max per miner; ordered worst first.
fn stats_frame(samples: &[Sample]) -> PolarsResult<Vec<StatRow>> {
    let miners: Vec<&str> = samples.iter().map(|s| s.miner.as_str()).collect();
    let delays: Vec<f64> = samples.iter().map(|s| s.delay).collect();
    let df = df!("miner" => miners, "delay" => delays)?;
    let out = df
        .lazy()
        .group_by([col("miner")])
        .agg([
            col("delay").count().alias("n"),
            col("delay").mean().alias("mean"),
            col("delay").median().alias("p50"),
            col("delay").quantile(lit(0.95), QuantileMethod::Linear).alias("p95"),
            col("delay").max().alias("max"),
        ])
        .sort_by_exprs(
            [col("p95"), col("max"), col("miner")],
            SortMultipleOptions::default().with_order_descending_multi([true, true, false]),
        )
        .collect()?;
    let miner = out.column("miner")?.str()?.clone();
    let n = out.column("n")?.cast(&DataType::UInt64)?;
    let n = n.u64()?;
    let mean = out.column("mean")?.f64()?.clone();
    let p50 = out.column("p50")?.f64()?.clone();
    let p95 = out.column("p95")?.f64()?.clone();
    let max = out.column("max")?.f64()?.clone();
    let mut rows = Vec::with_capacity(out.height());
    for i in 0..out.height() {
        rows.push((
            miner.get(i).unwrap_or_default().to_string(),
            n.get(i).unwrap_or(0),
            mean.get(i).unwrap_or(f64::NAN),
            p50.get(i).unwrap_or(f64::NAN),
            p95.get(i).unwrap_or(f64::NAN),
            max.get(i).unwrap_or(f64::NAN),
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(m: &str, d: f64) -> Sample {
        Sample { miner: m.into(), delay: d, cid: None, ts: None, node: "n".into() }
    }

    #[test]
    fn stats_match_hand_computation() {
        let samples: Vec<Sample> = (1..=20).map(|i| s("f01000", i as f64)).chain([s("f02000", 6.0), s("f02000", 8.0)]).collect();
        let rows = stats_frame(&samples).unwrap();
        assert_eq!(rows[0].0, "f01000");
        let (_, n, mean, p50, p95, max) = rows[0].clone();
        assert_eq!(n, 20);
        assert!((mean - 10.5).abs() < 1e-9);
        assert!((p50 - 10.5).abs() < 1e-9);
        // linear: rank 0.95·19 = 18.05 → 19 + 0.05·(20−19)
        assert!((p95 - 19.05).abs() < 1e-9, "{p95}");
        assert_eq!(max, 20.0);
        assert_eq!(rows[1], ("f02000".into(), 2, 7.0, 7.0, 7.9, 8.0));
    }
}
