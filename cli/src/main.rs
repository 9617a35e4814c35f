//! `lsync`: the command-line front end. It parses arguments, calls the library crates, and
//! prints; it holds no parsing, storage or chain logic of its own.

#![forbid(unsafe_code)]

mod columns;
mod export;
mod live;
mod output;
mod report;
mod reports;
mod sql;

/// Ingest allocates and frees millions of small strings on several threads at once; glibc's
/// allocator spent ~17 % of the parser threads' time on that (perf, 512 MiB log), mimalloc a
/// fraction of it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lsync",
    version,
    about = "Reconstruct what happened to every Filecoin block from Lotus logs and journals",
    long_about = "lsync reads a Lotus node's daemon logs and journal into SQLite and answers questions about them:\n\
                  when each block arrived, when it was picked as a sync target, which worker synced it,\n\
                  when it became the heaviest tipset, which reorgs hit the node, and which miners were late.\n\n\
                  Typical session:\n  \
                  lsync ingest ~/.lotus /var/log/lotus/daemon.log --node mynode\n  \
                  lsync summary\n  \
                  lsync reorgs --min-apply 2\n  \
                  lsync trace bafy2bzace...\n  \
                  lsync miners --min-delay 6\n  \
                  lsync sql \"SELECT kind, count(*) FROM events GROUP BY kind\"\n  \
                  lsync export --out lsync-export   (Parquet for DuckDB, ClickHouse, pandas)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The database option every command shares.
#[derive(Args, Clone)]
struct DbArg {
    /// SQLite database file.
    #[arg(long, env = "LSYNC_DB", default_value = "lsync.db", global = true)]
    db: PathBuf,
}

/// Output format options of the reports.
#[derive(Args, Clone, Copy)]
struct OutputArgs {
    /// Print JSON (one object per line where the report is a list).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV (tabular reports).
    #[arg(long)]
    csv: bool,
}

/// Filters shared by the reports.
#[derive(Args, Clone)]
struct FilterArgs {
    /// Only this node (the name given to `ingest --node`).
    #[arg(long)]
    node: Option<String>,
    /// Only events at or after this time (RFC 3339, a date like 2021-11-26, or Unix seconds).
    #[arg(long)]
    since: Option<String>,
    /// Only events at or before this time.
    #[arg(long)]
    until: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Read Lotus logs and journals into the database (incremental: re-runs read only new bytes).
    ///
    /// PATH may be a file (plain, .gz or .zst), a directory (every file below it, except
    /// .json/.md/.toml/.car/.db files), or a Lotus repo such as ~/.lotus (its journal/ files,
    /// ordered as Lotus rolled them, and any *.log beside them). Each file's format (journal,
    /// text log, JSON log) is detected from its content.
    ///
    /// Re-running is safe: each file is remembered by its first 4 KiB, so only new bytes are
    /// read, a journal Lotus renamed when it rolled is recognised, and a last line that is
    /// still being written waits for the next run.
    Ingest {
        /// Files, directories or Lotus repos [default: $LOTUS_PATH, else ~/.lotus].
        paths: Vec<PathBuf>,
        /// Name of the node these files come from.
        #[arg(long, default_value = "local")]
        node: String,
        /// Keep the raw Data of journal events other than head_change (can be most of a journal).
        #[arg(long)]
        keep_raw: bool,
        /// Parser threads per file [default: one per core]. Lower it to leave cores to a Lotus
        /// node running on the same machine.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
        threads: Option<u16>,
        /// Input bytes per transaction (a test knob: the crash test makes batches tiny so that
        /// kills land between a file's commits).
        #[arg(long, hide = true, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
        batch_bytes: Option<u64>,
        /// Input bytes per parser chunk (a test knob, like --batch-bytes; default 4 MiB).
        #[arg(long, hide = true, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
        chunk_bytes: Option<u64>,
        /// Read files that look binary (NUL bytes, or mostly non-text in the first 4 KiB) as
        /// text anyway; by default they are skipped with a sentence.
        #[arg(long)]
        force_text: bool,
        /// Print the closing summary as JSON.
        #[arg(long)]
        json: bool,
        /// No progress bar, and a one-line summary.
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// List parsed events (sync-pipeline events and journal head changes by default).
    Events {
        /// Only these kinds (repeatable): selected_target, worker_start, new_heaviest, head_change,
        /// block_delay, … (`lsync kinds` lists them all).
        #[arg(long = "kind", value_name = "KIND")]
        kinds: Vec<String>,
        /// Only events that name this CID (also inside tipset lists).
        #[arg(long)]
        cid: Option<String>,
        /// Include journal_other, unknown and malformed records.
        #[arg(long)]
        all: bool,
        /// At most this many rows.
        #[arg(long)]
        limit: Option<u64>,
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        out: OutputArgs,
        #[command(flatten)]
        db: DbArg,
    },
    /// One block's life: arrival → sync target → worker → New heaviest → journal, with latencies.
    Trace {
        /// The block CID.
        cid: String,
        /// Only this node.
        #[arg(long)]
        node: Option<String>,
        /// Print JSON: {"cid","nodes","events","stages"}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Journal head changes that reverted tipsets, classified extend / widen / sibling / reorg.
    ///
    /// The defaults select exactly what operators' jq query selects:
    /// select(.Event == "head_change" and .Data.ApplyCount > 1 and .Data.RevertCount > 0)
    Reorgs {
        /// Minimum ApplyCount.
        #[arg(long, default_value_t = 2)]
        min_apply: i64,
        /// Minimum RevertCount.
        #[arg(long, default_value_t = 1)]
        min_revert: i64,
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        out: OutputArgs,
        #[command(flatten)]
        db: DbArg,
    },
    /// Late miners: per-miner block delay statistics (delay = arrival − block timestamp).
    ///
    /// Measured from `lsync follow`'s first-seen records (every block, milliseconds) where a
    /// node has them, else from Lotus's "received block with large delay" warnings (blocks over
    /// 5 s late, whole seconds). `late_blocks` in --json counts the samples.
    Miners {
        /// Only delays of at least this many seconds.
        #[arg(long, default_value_t = 0.0)]
        min_delay: f64,
        /// How many worst blocks to list per miner.
        #[arg(long, default_value_t = 3)]
        worst: usize,
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        out: OutputArgs,
        #[command(flatten)]
        db: DbArg,
    },
    /// One self-contained HTML page of everything: summary cards, head height over time with
    /// reorg/widen/sibling markers, a picture of the chain around every reorg and orphan (with
    /// first-seen delays and links to each block's trace), per-miner delay curves, first
    /// sightings node by node, sync-worker and target→heaviest distributions, finality, and
    /// per-block traces.
    ///
    /// Everything is inline (CSS, SVG; no script, nothing fetched): it opens from file://,
    /// offline, and can be mailed. Large databases are aggregated and sampled, and the page
    /// says what was cut. An existing --out that is not an lsync report is not overwritten.
    ///
    /// Example: lsync report --out report.html && xdg-open report.html
    Report {
        /// Where to write the page.
        #[arg(long, default_value = "lsync-report.html")]
        out: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
        /// No timing line.
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Blocks a node saw that never became part of its canonical chain, and why.
    ///
    /// A block is known from a first-seen record, a `new block over pubsub` line, or a tipset
    /// in a log or journal; canonical is the final head's ancestry as the node's head changes
    /// built it (exact with lsync's reorg paths, written by follow and attach; from Lotus's
    /// own journal only the heads are known, and heights between a multi-tipset head change's
    /// ends are left undecided). Each orphan gets the first cause its data shows, with the
    /// evidence: from_future (seen over 1 s before its timestamp), lost_reorg (it was head;
    /// a reorg reverted it), late (first seen after the head had moved past its height),
    /// missed_sibling (seen after its height's tipset became head, never joined it),
    /// never_synced (never selected as a sync target), unknown.
    ///
    /// Example: lsync orphans --node mynode --json
    Orphans {
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        out: OutputArgs,
        #[command(flatten)]
        db: DbArg,
    },
    /// Several nodes side by side: per block, when each first saw it (and from which peer),
    /// selected it, made it heaviest and journaled it, and the spread; per reorg, which nodes
    /// went through it and how deep; per node, the lag from a block's timestamp to its head.
    ///
    /// Nodes are the names given to `ingest --node` (follow and attach repos, Lotus nodes).
    /// Example: lsync compare --node east --node west --height 4921000
    Compare {
        /// Only these nodes (repeatable) [default: every node in the database].
        #[arg(long = "node", value_name = "NODE")]
        nodes: Vec<String>,
        /// Only this block.
        cid: Option<String>,
        /// Only blocks (and reorgs) at this height.
        #[arg(long)]
        height: Option<i64>,
        /// Only events at or after this time.
        #[arg(long)]
        since: Option<String>,
        /// Only events at or before this time.
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
        #[command(flatten)]
        db: DbArg,
    },
    /// Time to finality per block, the finality lag behind the head, and F3 stalls, per node.
    ///
    /// From `finality` events (`lsync attach` records each F3 certificate the node reports)
    /// against each block's first sighting (`block_seen`; else the head change that applied
    /// it). A stall is a stretch with no new finality longer than --stall (mainnet's F3
    /// finalizes within 4–10 epochs when healthy; #13094, #13208 and #13473 stalled for hours).
    ///
    /// Example: lsync finality --stall 10m --json
    Finality {
        /// No new finality for longer than this is a stall.
        #[arg(long, default_value = "10m", value_name = "DURATION")]
        stall: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        db: DbArg,
    },
    /// What the database holds: sources, time range, heights, counts, reorgs, worker durations.
    Summary {
        /// Only this node.
        #[arg(long)]
        node: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// SQL over the database: events, event_cids, head_changes, sources, nodes.
    ///
    /// The tables read the store as the query runs (nothing is loaded whole); constraints on
    /// event_id, kind, node, ts / ts_ns and cid use the store's indexes. Read-only: a statement
    /// that would write is refused. Several statements separated by `;` run in turn.
    ///
    /// Examples:
    ///   lsync sql --tables
    ///   lsync sql "SELECT count(*) FROM events WHERE kind = 'head_change'"
    ///   lsync sql "SELECT * FROM head_changes WHERE apply_count >= 2 AND revert_count >= 1"
    ///   lsync sql "SELECT kind, ts, file, line FROM events WHERE cid = 'bafy2bzace…'"
    ///   lsync sql --csv "SELECT miner, count(*) AS late, max(delay_s) FROM events
    ///       WHERE kind = 'block_delay' AND ts >= '2024-05-01' GROUP BY miner ORDER BY late DESC"
    ///   lsync sql --file query.sql --json
    Sql {
        /// The SQL; `-` or nothing reads it from stdin.
        query: Option<String>,
        /// Read the SQL from this file.
        #[arg(long, conflicts_with = "query")]
        file: Option<PathBuf>,
        /// List the tables and their columns.
        #[arg(long)]
        tables: bool,
        /// At most this many rows per statement in a table (--csv and --json print all).
        #[arg(long, default_value_t = 1000)]
        max_rows: usize,
        #[command(flatten)]
        out: OutputArgs,
        #[command(flatten)]
        db: DbArg,
    },
    /// Write the store as open datasets: Parquet (default), CSV or NDJSON, for DuckDB,
    /// ClickHouse, Spark or pandas.
    ///
    /// One dataset per table (events, event_cids, head_changes, blocks, sources, nodes), in Hive-style
    /// partitions DIR/TABLE/node=N/date=YYYY-MM-DD/part-RUN-WPART.parquet (run, writer thread, part). Typed: ts is a UTC
    /// timestamp (ns) with the original offset in ts_offset_s, heights and counts integers,
    /// CID lists list<string>. Streamed with bounded memory. --since-last-export adds only the
    /// rows ingested since the last export into DIR, in new files; old files are never touched.
    ///
    /// Examples:
    ///   lsync export --out lsync-export
    ///   lsync export --out lsync-export --since-last-export
    ///   lsync export --format ndjson --table events --node mynode --since 2024-05-01 --out ev/
    ///   lsync export --schema        (ClickHouse CREATE TABLE statements)
    ///   duckdb -c "SELECT kind, count(*) FROM read_parquet('lsync-export/events/**/*.parquet',
    ///       hive_partitioning = true) GROUP BY kind"
    Export {
        /// The directory to write (new or empty; with --since-last-export, an earlier export).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// parquet, csv (lists as JSON arrays) or ndjson.
        #[arg(long, default_value = "parquet")]
        format: lsync_analyzers::export::Format,
        /// Parquet page compression: zstd, lz4, snappy or none.
        #[arg(long, default_value = "zstd")]
        compression: lsync_analyzers::export::Compression,
        /// Only these tables (repeatable) [default: all].
        #[arg(long = "table", value_name = "TABLE")]
        tables: Vec<lsync_analyzers::export::Table>,
        /// Add the rows ingested since the last export into --out, as new files.
        #[arg(long)]
        since_last_export: bool,
        /// Print ClickHouse CREATE TABLE statements for the tables and exit.
        #[arg(long)]
        schema: bool,
        #[command(flatten)]
        filter: FilterArgs,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Inspect Filecoin data files.
    #[command(subcommand)]
    Inspect(InspectCommand),
    /// Join a Filecoin network over libp2p and record every block and head change.
    ///
    /// An independent observer: hello, chain exchange and gossipsub blocks, the heaviest chain
    /// chosen the way Lotus chooses it. It writes a Lotus-compatible head_change journal and
    /// Lotus-format log lines under --repo (journal/ and daemon.log, so `lsync ingest REPO`
    /// reads them like a node's), plus lsync's own first-seen record of every block with its
    /// millisecond arrival time and delivering peer. SIGINT/SIGTERM stop it cleanly.
    ///
    /// Examples:
    ///   lsync follow --network calibnet --for 10m
    ///   lsync follow --network lsync-devnet --genesis-car out/genesis.car --block-time 2s \
    ///       --bootstrap /ip4/127.0.0.1/tcp/40001/p2p/12D3… --bootstrap-peers 1
    Follow(lsync_sync::launch::FollowArgs),
    /// Watch a running Lotus node through its JSON-RPC API and write its head changes as a
    /// Lotus-shaped journal (the same records `follow` writes).
    ///
    /// The node is found as Lotus's CLI finds it: --api, else FULLNODE_API_INFO, else the
    /// `api` and `token` files of --repo (default $LOTUS_PATH, else ~/.lotus). It subscribes
    /// to ChainNotify (one sync:head_change per batch, with the revert/apply path beside it)
    /// and SyncIncomingBlocks (the node's arrival of each block), polls F3's latest
    /// certificate (lsync:finality), and when the connection drops or the node closes the
    /// subscription (Lotus does to a reader 16 batches behind) it reconnects, resubscribes and
    /// fills the gap from ChainGetPath, recording it (lsync:notify_gap): no head change lost
    /// or written twice. The token is sent in the WebSocket upgrade only; it is never printed.
    ///
    /// Examples:
    ///   lsync attach --for 1h --db lsync.db
    ///   FULLNODE_API_INFO=$(cat token):/ip4/127.0.0.1/tcp/1234/http lsync attach
    ///   lsync attach --repo lsync-devnet      # a devnet started with --rpc
    Attach(lsync_sync::launch::AttachArgs),
    /// A loopback Filecoin network of simulated miners, for trying `lsync follow`.
    ///
    /// Miners speak the real protocols (gossip BlockMsg, hello, chain exchange) with real-format
    /// headers from the mainnet genesis. Scenarios combine. Prints the multiaddrs and the
    /// `lsync follow` command to join, and writes OUT/ground-truth.json (every block with its
    /// publish time and publisher, the canonical chain, orphans, the head changes a correct
    /// follower records) and OUT/genesis.car. Deterministic for a seed.
    Devnet(lsync_sync::launch::DevnetArgs),
    /// The whole pipeline in one process, on loopback, in about a minute: a devnet with a fork
    /// and a late miner, lsync follow, ingest, then the reorgs, the delayed miners, and the
    /// trace of an orphaned and of a late block.
    Demo {
        /// Keep the demo's files here instead of a temporary directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// List the event kinds and what each means.
    Kinds {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum InspectCommand {
    /// Every block header in a CAR file (CARv1, plain, .zst or .gz), as tipsets ordered by height.
    ///
    /// Every block's hash is checked against its CID; headers are re-encoded and must hash to
    /// their CID. Example: lsync inspect car build/genesis/mainnet.car.zst
    Car {
        file: PathBuf,
        /// Address letter: mainnet prints f0…, calibnet t0….
        #[arg(long, default_value = "mainnet", value_parser = ["mainnet", "calibnet", "testnet"])]
        network: String,
        /// Print {"roots":[…],"headers":[{"cid","height","miner","parents","parent_weight","timestamp","win_count"}…]}.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One clear sentence: the chain of causes on one line.
            // Causes already quoted by their parent (thiserror's "{path}: {source}") are skipped.
            let mut msg = String::new();
            for cause in e.chain() {
                let text = cause.to_string();
                if text.is_empty() || msg.contains(&text) {
                    continue;
                }
                if !msg.is_empty() {
                    msg.push_str(": ");
                }
                msg.push_str(&text);
            }
            eprintln!("lsync: error: {}", output::inert(&msg));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ingest { paths, node, keep_raw, threads, batch_bytes, chunk_bytes, force_text, json, quiet, db } => {
            let paths = if paths.is_empty() { vec![default_lotus_repo()?] } else { paths };
            let opts = lsync_analyzers::ingest::IngestOptions { node, keep_raw, parse_threads: threads.map(usize::from), batch_bytes, chunk_bytes: chunk_bytes.map(|b| b as usize), force_text };
            reports::ingest(&db.db, &paths, opts, json, quiet)
        }
        Command::Events { kinds, cid, all, limit, filter, out, db } => reports::events(&db.db, &kinds, cid, all, limit, &filter, out),
        Command::Trace { cid, node, json, db } => reports::trace(&db.db, &cid, node.as_deref(), json),
        Command::Reorgs { min_apply, min_revert, filter, out, db } => reports::reorgs(&db.db, min_apply, min_revert, &filter, out),
        Command::Miners { min_delay, worst, filter, out, db } => reports::miners(&db.db, min_delay, worst, &filter, out),
        Command::Summary { node, json, db } => reports::summary(&db.db, node.as_deref(), json),
        Command::Orphans { filter, out, db } => reports::orphans(&db.db, &filter, out),
        Command::Report { out, filter, quiet, db } => report::run(&db.db, &out, &filter.to_filter()?, quiet),
        Command::Compare { nodes, cid, height, since, until, out, db } => {
            let filter = FilterArgs { node: None, since, until }.to_filter()?;
            let cid = cid.map(|c| lsync_core::cids::validate_cid(&c).map_err(|_| anyhow::anyhow!("{c:?} is not a valid CID"))).transpose()?;
            reports::compare(&db.db, &filter, lsync_analyzers::compare::Selection { nodes, cid, height }, out)
        }
        Command::Finality { stall, json, filter, db } => {
            let stall = lsync_sync::launch::parse_duration(&stall, "--stall")?;
            reports::finality(&db.db, &filter.to_filter()?, stall.as_secs_f64(), json)
        }
        Command::Sql { query, file, tables, max_rows, out, db } => sql::run(&db.db, query, file, tables, max_rows, out),
        Command::Export { out, format, compression, tables, since_last_export, schema, filter, json, quiet, db } => export::run(&db.db, format, compression, out, tables, &filter, since_last_export, schema, json, quiet),
        Command::Inspect(InspectCommand::Car { file, network, json }) => reports::inspect_car(&file, &network, json),
        Command::Follow(args) => live::follow(args),
        Command::Attach(args) => live::attach(args),
        Command::Devnet(args) => live::devnet(args),
        Command::Demo { dir } => reports::demo(dir),
        Command::Kinds { json } => {
            reports::kinds(json);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Lotus's own default: `$LOTUS_PATH`, else `~/.lotus`.
fn default_lotus_repo() -> Result<PathBuf> {
    let repo = match std::env::var_os("LOTUS_PATH") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".lotus"),
    };
    if !repo.is_dir() {
        anyhow::bail!("no PATH given and the default Lotus repo {} does not exist (set LOTUS_PATH or name files)", repo.display());
    }
    Ok(repo)
}

impl FilterArgs {
    fn to_filter(&self) -> Result<lsync_analyzers::query::Filter> {
        let t = |s: &Option<String>, what: &str| -> Result<Option<lsync_core::Timestamp>> {
            s.as_deref()
                .map(|v| lsync_core::time::parse_user_time(v).with_context(|| format!("--{what}")))
                .transpose()
        };
        Ok(lsync_analyzers::query::Filter {
            node: self.node.clone(),
            since: t(&self.since, "since")?,
            until: t(&self.until, "until")?,
            ..Default::default()
        })
    }
}
