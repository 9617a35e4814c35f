//! How Lotus *writes* each wording the message table reads: the level, logger and caller of
//! every release range, the format string with named holes, the structured field names, and a
//! real line as a node printed it (lotus-facts §2.2–§2.3, release tags grepped line by line).
//!
//! Three consumers render from these rows and one parses against them: the follower's log
//! writer (newest release), the fixture generator (the release its style imitates) and the
//! tests, which read every sample back through the log parser and check it lands on the row's
//! kind, fields and call site. A caller `file:line` moves with nearly every release, which is
//! why the parser never matches on it; it is a version fingerprint, and these tables are where
//! the fingerprints live.

use std::fmt;

use crate::event::EventKind;

/// go-log levels, in increasing severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The plain-text encoder's spelling (`INFO`); the JSON encoder writes it lower-case.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// A Lotus release tag, `v1.29.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release(pub u16, pub u16, pub u16);

impl Release {
    /// The newest release whose call sites the table records (lotus-facts §2.3: v1.36.0–HEAD).
    pub const NEWEST: Release = Release(1, 36, 0);
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Where the releases from `since` on emit a wording, up to the next recorded site. Ranges come
/// from lotus-facts §2.3 (every release tag grepped); where it has gaps, a site holds until the
/// next one it records, and the comment on the row says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site {
    pub since: Release,
    pub level: Level,
    pub logger: &'static str,
    /// go-log's short caller: the last directory and the file, `store/store.go:685`.
    pub caller: &'static str,
}

/// One Lotus call that produces a wording. Two calls with the same text but different callers
/// (`selected sync target` from `handlePeerHead` and from `handleWorkerStatus`) are two
/// wordings: a writer must be able to name the one it imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wording {
    SelectedInitialTarget,
    SelectedTargetPeerHead,
    SelectedTargetAfterWorker,
    SelectedDeferredTarget,
    WorkerStart,
    WorkerDone,
    ErrorDuringSync,
    LegacySyncError,
    CollectChainMismatch,
    NewHeaviest,
    SlowMsgFetch,
    BlockOverPubsub,
    BlockDelay,
    BlockDelayLegacy,
    BlsFetchFailed,
    BlsFetchFailedTypo,
    SecpFetchFailed,
    ReorgBacklog,
    ReorgBacklogLegacy,
    NotBetter,
    NotBetterLegacy,
    BadBlock,
    WeightDraw,
    TieBrokenForIncoming,
    TieBrokenForCurrent,
    TieUnbroken,
    WeightShrank,
    ImpossibleHeight,
    OutsideConsensusRange,
    OutsideConsensusRangeValidator,
    BlockValidation,
    F3Decision,
    F3DecisionLegacy,
}

/// A line a node really wrote, byte for byte as published (a paste whose tabs became spaces
/// keeps its spaces), and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub line: &'static str,
    pub source: &'static str,
    /// The release tag the source states the node ran, when it states one (a `+git.` build
    /// between tags does not count): the line must then sit at `site_at(release)`.
    pub release: Option<Release>,
}

/// How Lotus writes one wording.
#[derive(Debug, Clone, Copy)]
pub struct Form {
    pub wording: Wording,
    pub kind: EventKind,
    /// Lotus's format string with its verbs replaced by named holes: `worker {worker} done;
    /// took {took}`. Hole names say what the writer supplies.
    pub template: &'static str,
    /// The structured fields of a `…w` call, in the order Lotus passes them.
    pub fields: &'static [&'static str],
    /// Call sites by release, oldest first. Ranges with no recorded line are absent.
    pub sites: &'static [Site],
    /// The first release without this wording, when it was removed.
    pub gone_in: Option<Release>,
    /// A real line from a public paste; `None` where none was found (lotus-facts has the
    /// format string, the table renders it, but no operator has published one).
    pub sample: Option<Sample>,
}

impl Form {
    /// The call site of `release`: the last site at or before it, or `None` when the wording
    /// did not exist then (before the first recorded site, or from `gone_in`).
    pub fn site_at(&self, release: Release) -> Option<&'static Site> {
        if self.gone_in.is_some_and(|gone| release >= gone) {
            return None;
        }
        self.sites.iter().rev().find(|s| s.since <= release)
    }

    /// [`site_at`](Self::site_at), or the nearest recorded site when the release falls outside
    /// the recorded ranges. For generators imitating a release whose line was never recorded;
    /// a writer of real-looking lines uses `site_at`.
    pub fn site_near(&self, release: Release) -> &'static Site {
        self.site_at(release)
            .or_else(|| self.sites.iter().rev().find(|s| s.since <= release))
            .unwrap_or(&self.sites[0])
    }

    /// The message text: the template with each `{hole}` replaced by its value. A hole without
    /// a value is left as `{hole}` so that tests comparing lines see it.
    pub fn message(&self, values: &[(&str, &dyn fmt::Display)]) -> String {
        let mut out = String::with_capacity(self.template.len() + 96);
        let mut rest = self.template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                out.push_str(&rest[open..]);
                return out;
            };
            let name = &after[..close];
            match values.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => out.push_str(&v.to_string()),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The hole names of the template, in order.
    pub fn holes(&self) -> impl Iterator<Item = &'static str> {
        let t: &'static str = self.template;
        t.split('{').skip(1).filter_map(|s| s.split_once('}').map(|(name, _)| name))
    }

    /// The literal text before the first hole (what the parser's prefix must start with).
    pub fn literal_start(&self) -> &'static str {
        let t: &'static str = self.template;
        t.split('{').next().unwrap_or("")
    }
}

#[cfg(test)]
mod tests;

const fn r(major: u16, minor: u16, patch: u16) -> Release {
    Release(major, minor, patch)
}

const fn at(since: Release, level: Level, logger: &'static str, caller: &'static str) -> Site {
    Site { since, level, logger, caller }
}

const DEBUG: Level = Level::Debug;
const INFO: Level = Level::Info;
const WARN: Level = Level::Warn;
const ERROR: Level = Level::Error;

/// The five release ranges in which the sync-manager lines moved together (lotus-facts §2.3).
macro_rules! sync_manager_sites {
    ($level:expr, $a:literal, $b:literal, $c:literal, $d:literal, $e:literal) => {
        &[
            at(r(1, 1, 3), $level, "chain", concat!("chain/sync_manager.go:", $a)),
            at(r(1, 2, 3), $level, "chain", concat!("chain/sync_manager.go:", $b)),
            at(r(1, 17, 0), $level, "chain", concat!("chain/sync_manager.go:", $c)),
            at(r(1, 25, 0), $level, "chain", concat!("chain/sync_manager.go:", $d)),
            at(r(1, 29, 0), $level, "chain", concat!("chain/sync_manager.go:", $e)),
        ]
    };
}

const fn seen(line: &'static str, source: &'static str) -> Option<Sample> {
    Some(Sample { line, source, release: None })
}

const fn seen_on(release: Release, line: &'static str, source: &'static str) -> Option<Sample> {
    Some(Sample { line, source, release: Some(release) })
}

macro_rules! form {
    ($name:ident, $wording:ident, $kind:ident, $template:expr, fields: $fields:expr, sites: $sites:expr, gone_in: $gone:expr, $sample:expr) => {
        pub const $name: Form = Form {
            wording: Wording::$wording,
            kind: EventKind::$kind,
            template: $template,
            fields: $fields,
            sites: $sites,
            gone_in: $gone,
            sample: $sample,
        };
    };
}

form!(SELECTED_INITIAL_TARGET, SelectedInitialTarget, SelectedInitialTarget, "selected initial sync target: {tipset}",
    fields: &[], sites: sync_manager_sites!(INFO, 217, 218, 219, 220, 222), gone_in: None,
    None);
form!(SELECTED_TARGET_PEER_HEAD, SelectedTargetPeerHead, SelectedTarget, "selected sync target: {tipset}",
    fields: &[], sites: sync_manager_sites!(INFO, 231, 232, 233, 234, 236), gone_in: None,
    seen_on(r(1, 23, 0), r#"{"level":"info","ts":"2023-04-29T12:52:00.197Z","logger":"chain","caller":"chain/sync_manager.go:233","msg":"selected sync target: [bafy2bzaceaktesiedz2ysapplhkp5o5cd3t6szoayhv32fasuj4vxkmtdrrks]"}"#, "lotus#10788 (2023-04-29, Lotus 1.23.0, GOLOG_LOG_FMT=json)"));
form!(SELECTED_TARGET_AFTER_WORKER, SelectedTargetAfterWorker, SelectedTarget, "selected sync target: {tipset}",
    fields: &[], sites: sync_manager_sites!(INFO, 271, 272, 273, 274, 276), gone_in: None,
    seen("2022-12-21T08:55:57.362Z        INFO    chain   chain/sync_manager.go:273       selected sync target: [bafy2bzacea3qbqdossroma6ypkuvil7ia5se3qrw5ckn2ffcb5jkxdmx67e56]", "lotus#9930 (2022-12-21, pasted with tabs turned to spaces)"));
form!(SELECTED_DEFERRED_TARGET, SelectedDeferredTarget, SelectedDeferredTarget, "selected deferred sync target: {tipset}",
    fields: &[], sites: sync_manager_sites!(INFO, 290, 291, 292, 293, 295), gone_in: None,
    None);
form!(WORKER_START, WorkerStart, WorkerStart, "worker {worker} syncing in {tipset}",
    fields: &[], sites: sync_manager_sites!(INFO, 313, 314, 315, 316, 318), gone_in: None,
    seen_on(r(1, 23, 0), r#"{"level":"info","ts":"2023-04-29T12:51:31.958Z","logger":"chain","caller":"chain/sync_manager.go:315","msg":"worker 3714 syncing in [bafy2bzacedqjf7ms56zvvyr6bmxxkdy4kovjz22zqpjoig6dmkmj34y74m3hg bafy2bzacebau2sf37bmu5vtvuevctvuvagmifpovb5z5znmwqrrqeeav2ofhu]"}"#, "lotus#10788 (2023-04-29, Lotus 1.23.0)"));
form!(WORKER_DONE, WorkerDone, WorkerDone, "worker {worker} done; took {took}",
    fields: &[], sites: sync_manager_sites!(INFO, 321, 322, 323, 324, 326), gone_in: None,
    seen_on(r(1, 23, 0), r#"{"level":"info","ts":"2023-04-29T12:51:31.958Z","logger":"chain","caller":"chain/sync_manager.go:323","msg":"worker 3714 done; took 2.01µs"}"#, "lotus#10788 (2023-04-29, Lotus 1.23.0)"));
form!(ERROR_DURING_SYNC, ErrorDuringSync, SyncError, "error during sync in {tipset}: {error}",
    fields: &[], sites: sync_manager_sites!(ERROR, 252, 253, 254, 255, 257), gone_in: None,
    seen("2023-02-16T12:45:02.481+0100\tERROR\tchain\tchain/sync_manager.go:254\terror during sync in [bafy2bzaceanr4yxjgmx7nhqxew6ayx7sqxrxmaaih2zeowyuodosomnm4p6si bafy2bzacearrr5qyu4ixbg6fqvvcnkvtujxdsjcaggwgsl54g66q7rkhv7564]: collectChain failed: chain linked to block marked previously as bad ([bafy2bzaceanr4yxjgmx7nhqxew6ayx7sqxrxmaaih2zeowyuodosomnm4p6si bafy2bzacearrr5qyu4ixbg6fqvvcnkvtujxdsjcaggwgsl54g66q7rkhv7564], bafy2bzacecferrjxvgy6g2vkugxdyhr4xqu7ghx532rbon5v6jpivc6jgy4fe) (reason: linked to bafy2bzacebrm5gnfhywercxbqddpyufzbllzxbhsy7yfhvpv2bj4oionfat34 caused by: [bafy2bzacecrfuhhvjzgdes5g4u3lunwkjnwcp7zivooosx7mjszmfpndwdwag] 2 errors occurred:", "lotus#10290 (2023-02-16; first physical line of a multi-line error)"));
// Before the v1.1.3 sync-manager rewrite; `%+v` of an error with its stack frames, so the
// record spans several physical lines. Lines by tag were not grepped: the one recorded is what
// pastes of June and August 2020 show (lotus#2147, #3382); late 2019 pastes show :344 and :388.
form!(LEGACY_SYNC_ERROR, LegacySyncError, SyncError, "sync error: {error}",
    fields: &[], sites: &[at(r(0, 4, 0), ERROR, "chain", "chain/sync_manager.go:389")], gone_in: Some(r(1, 1, 3)),
    seen("2020-08-28T13:02:31.980-0700\tERROR\tchain\tchain/sync_manager.go:389\tsync error: collectChain failed:", "lotus#3382 (2020-08-28; first physical line, stack frames follow)"));
form!(COLLECT_CHAIN_MISMATCH, CollectChainMismatch, SyncError, "collectChain headers[0] should be equal to sync target. Its not: {got} != {want}",
    fields: &[],
    sites: &[
        at(r(1, 2, 0), ERROR, "chain", "chain/sync.go:1707"),
        at(r(1, 4, 2), ERROR, "chain", "chain/sync.go:1714"),
        at(r(1, 9, 0), ERROR, "chain", "chain/sync.go:1718"),
        at(r(1, 10, 0), ERROR, "chain", "chain/sync.go:1728"),
        at(r(1, 11, 0), ERROR, "chain", "chain/sync.go:1721"),
        at(r(1, 11, 1), ERROR, "chain", "chain/sync.go:1727"),
        at(r(1, 11, 3), ERROR, "chain", "chain/sync.go:1195"),
        at(r(1, 17, 0), ERROR, "chain", "chain/sync.go:1196"),
    ],
    gone_in: Some(r(1, 23, 1)),
    None);
form!(NEW_HEAVIEST, NewHeaviest, NewHeaviest, "New heaviest tipset! {tipset} (height={height})",
    fields: &[],
    sites: &[
        at(r(0, 5, 0), INFO, "chainstore", "store/store.go:386"),
        at(r(0, 5, 8), INFO, "chainstore", "store/store.go:395"),
        at(r(0, 6, 0), INFO, "chainstore", "store/store.go:420"),
        at(r(0, 6, 1), INFO, "chainstore", "store/store.go:395"),
        at(r(0, 7, 1), INFO, "chainstore", "store/store.go:417"),
        at(r(0, 8, 1), INFO, "chainstore", "store/store.go:431"),
        at(r(0, 9, 0), INFO, "chainstore", "store/store.go:433"),
        at(r(0, 9, 1), INFO, "chainstore", "store/store.go:438"),
        at(r(0, 10, 0), INFO, "chainstore", "store/store.go:441"),
        at(r(1, 1, 3), INFO, "chainstore", "store/store.go:472"),
        at(r(1, 2, 0), INFO, "chainstore", "store/store.go:513"),
        at(r(1, 4, 1), INFO, "chainstore", "store/store.go:583"),
        at(r(1, 5, 1), INFO, "chainstore", "store/store.go:582"),
        at(r(1, 10, 0), INFO, "chainstore", "store/store.go:600"),
        at(r(1, 11, 0), INFO, "chainstore", "store/store.go:646"),
        at(r(1, 11, 2), INFO, "chainstore", "store/store.go:628"),
        at(r(1, 11, 3), INFO, "chainstore", "store/store.go:641"),
        at(r(1, 12, 0), INFO, "chainstore", "store/store.go:646"),
        at(r(1, 17, 0), INFO, "chainstore", "store/store.go:643"),
        at(r(1, 17, 2), INFO, "chainstore", "store/store.go:644"),
        at(r(1, 20, 0), INFO, "chainstore", "store/store.go:657"),
        at(r(1, 23, 1), INFO, "chainstore", "store/store.go:644"),
        at(r(1, 23, 3), INFO, "chainstore", "store/store.go:649"),
        at(r(1, 25, 0), INFO, "chainstore", "store/store.go:683"),
        at(r(1, 27, 0), INFO, "chainstore", "store/store.go:684"),
        at(r(1, 29, 0), INFO, "chainstore", "store/store.go:685"),
        at(r(1, 35, 1), INFO, "chainstore", "store/store.go:688"),
        at(r(1, 36, 0), INFO, "chainstore", "store/store.go:685"),
    ],
    gone_in: None,
    seen("2021-04-17T19:45:41.077-0700\tINFO\tchainstore\tstore/store.go:582\tNew heaviest tipset! [bafy2bzaceazsyw4mvg43fpoxcc23fgmw7c3cvovovzosc7dpoyirbk6om6qio bafy2bzacedwpwjo7zkd66wunvb7inwso3bi3dkhtf6e5aulpkpzzialevgfpu bafy2bzaceddjt3ycndbtvfdzwwjz7zl3vjocmhdq3hzqwsgecrxf5scspaskg bafy2bzacecvaw3edjspmzg47nyhnd5x4b2yy6lqsa2a34cqdtalqahfhxf4q6] (height=680251)", "lotus#5128 (comment of 2021-04-19, mainnet)"));
form!(SLOW_MSG_FETCH, SlowMsgFetch, SlowMsgFetch, "Slow msg fetch",
    fields: &["cid", "source", "msgfetch"],
    sites: &[
        at(r(1, 1, 3), WARN, "sub", "sub/incoming.go:100"),
        at(r(1, 2, 2), WARN, "sub", "sub/incoming.go:97"),
        at(r(1, 11, 3), WARN, "sub", "sub/incoming.go:88"),
        at(r(1, 15, 1), WARN, "sub", "sub/incoming.go:93"),
        at(r(1, 17, 0), WARN, "sub", "sub/incoming.go:95"),
        at(r(1, 27, 1), WARN, "sub", "sub/incoming.go:96"),
        at(r(1, 29, 0), WARN, "sub", "sub/incoming.go:97"),
        at(r(1, 30, 0), WARN, "sub", "sub/incoming.go:98"),
        at(r(1, 31, 1), WARN, "sub", "sub/incoming.go:94"),
        at(r(1, 34, 0), WARN, "sub", "sub/incoming.go:103"),
    ],
    gone_in: None,
    seen_on(r(1, 2, 1), "2020-11-30T13:18:35.564+0800\tWARN\tsub\tsub/incoming.go:100\tSlow msg fetch\t{\"cid\": \"bafy2bzaceatjalvsguyg5ltcl5uv5h75zombvzzsjfkcww3xmbqj5nldfkbrc\", \"source\": \"12D3KooWSTDmbUsxBRgDHukirSXBud7LY65SaMeLxQ2h3N8fw352\", \"msgfetch\": 3.892262149}", "lotus#5054 (2020-11-30, Lotus 1.2.1)"));
// DEBUG since v1.1.3 (INFO before); only the current line is recorded. It sits two lines
// above `Slow msg fetch` in the same function.
form!(BLOCK_OVER_PUBSUB, BlockOverPubsub, BlockOverPubsub, "new block over pubsub",
    fields: &["cid", "source", "msgfetch"],
    sites: &[at(r(1, 34, 0), DEBUG, "sub", "sub/incoming.go:101")],
    gone_in: None,
    seen("2020-11-11T11:03:45.448+0800\tINFO\tsub\tsub/incoming.go:98\tnew block over pubsub\t{\"cid\": \"bafy2bzaceadlburksefsswhpvufljphbj3tj24osss7lc2wjsbfmmv663ueqs\", \"source\": \"12D3KooWEBjugjp1jdLvR6apgXwVvF32Cd6vk7ghoBBHGEDF5nDC\", \"msgfetch\": 0.000009336}", "lotus#4796 (2020-11-11, a 2k devnet; INFO before v1.1.3)"));
form!(BLOCK_DELAY, BlockDelay, BlockDelay, "received block with large delay from miner",
    fields: &["block", "delay", "miner"],
    sites: &[
        at(r(1, 5, 1), WARN, "sub", "sub/incoming.go:104"),
        at(r(1, 11, 3), WARN, "sub", "sub/incoming.go:95"),
        at(r(1, 15, 1), WARN, "sub", "sub/incoming.go:100"),
        at(r(1, 17, 0), WARN, "sub", "sub/incoming.go:102"),
        at(r(1, 27, 1), WARN, "sub", "sub/incoming.go:103"),
        at(r(1, 29, 0), WARN, "sub", "sub/incoming.go:104"),
        at(r(1, 30, 0), WARN, "sub", "sub/incoming.go:105"),
        at(r(1, 31, 1), WARN, "sub", "sub/incoming.go:101"),
        at(r(1, 34, 0), WARN, "sub", "sub/incoming.go:110"),
    ],
    gone_in: None,
    seen("2024-06-23T12:16:03.722Z\tWARN\tsub\tsub/incoming.go:102\treceived block with large delay from miner\t{\"block\": \"bafy2bzacecwv7lnxhod2iiw735obzvrhv7wsl5fjpfzp3qubqtzv3z2jr7lco\", \"delay\": 393120, \"miner\": \"t01000\"}", "lotus#12151 (2024-06-23, a local devnet)"));
form!(BLOCK_DELAY_LEGACY, BlockDelayLegacy, BlockDelay, "Received block with large delay {delay} from miner {miner}",
    fields: &[],
    sites: &[
        at(r(0, 5, 0), WARN, "sub", "sub/incoming.go:81"),
        at(r(0, 5, 5), WARN, "sub", "sub/incoming.go:85"),
        at(r(0, 7, 2), WARN, "sub", "sub/incoming.go:84"),
        at(r(0, 9, 0), WARN, "sub", "sub/incoming.go:96"),
        at(r(0, 10, 2), WARN, "sub", "sub/incoming.go:104"),
        at(r(1, 1, 1), WARN, "sub", "sub/incoming.go:100"),
        at(r(1, 1, 3), WARN, "sub", "sub/incoming.go:103"),
        at(r(1, 2, 2), WARN, "sub", "sub/incoming.go:100"),
        at(r(1, 2, 3), WARN, "sub", "sub/incoming.go:104"),
    ],
    gone_in: Some(r(1, 5, 1)),
    seen("2020-11-11T11:03:45.448+0800\tWARN\tsub\tsub/incoming.go:100\tReceived block with large delay 338713 from miner t01000", "lotus#4796 (2020-11-11, a 2k devnet)"));
form!(BLS_FETCH_FAILED, BlsFetchFailed, MsgFetchFailed, "failed to fetch all bls messages for block received over pubsub: {error}; source: {peer}",
    fields: &[],
    sites: &[
        at(r(1, 11, 0), ERROR, "sub", "sub/incoming.go:84"),
        at(r(1, 11, 3), ERROR, "sub", "sub/incoming.go:75"),
        at(r(1, 15, 1), ERROR, "sub", "sub/incoming.go:80"),
        at(r(1, 17, 0), ERROR, "sub", "sub/incoming.go:82"),
        at(r(1, 27, 1), ERROR, "sub", "sub/incoming.go:83"),
        at(r(1, 29, 0), ERROR, "sub", "sub/incoming.go:84"),
        at(r(1, 30, 0), ERROR, "sub", "sub/incoming.go:85"),
        at(r(1, 31, 1), ERROR, "sub", "sub/incoming.go:81"),
        at(r(1, 34, 0), ERROR, "sub", "sub/incoming.go:90"),
    ],
    gone_in: None,
    None);
// v0.5–v1.10.1 misspelt "pubsub"; fixed in v1.11.0.
form!(BLS_FETCH_FAILED_TYPO, BlsFetchFailedTypo, MsgFetchFailed, "failed to fetch all bls messages for block received over pubusb: {error}; source: {peer}",
    fields: &[],
    sites: &[
        at(r(0, 5, 0), ERROR, "sub", "sub/incoming.go:68"),
        at(r(0, 5, 5), ERROR, "sub", "sub/incoming.go:72"),
        at(r(0, 7, 2), ERROR, "sub", "sub/incoming.go:71"),
        at(r(0, 9, 0), ERROR, "sub", "sub/incoming.go:83"),
        at(r(0, 10, 2), ERROR, "sub", "sub/incoming.go:91"),
        at(r(1, 1, 1), ERROR, "sub", "sub/incoming.go:87"),
        at(r(1, 2, 2), ERROR, "sub", "sub/incoming.go:84"),
    ],
    gone_in: Some(r(1, 11, 0)),
    seen("2021-04-25T23:29:36.309+0200\tERROR\tsub\tsub/incoming.go:84\tfailed to fetch all bls messages for block received over pubusb: context deadline exceeded; source: 12D3KooWCfq2Rp8kuDC5izqRzuJeba23XcUV5EyQ5Lx1zsR45CPy", "lotus#6104 (2021-04-25)"));
form!(SECP_FETCH_FAILED, SecpFetchFailed, MsgFetchFailed, "failed to fetch all secpk messages for block received over pubsub: {error}; source: {peer}",
    fields: &[],
    sites: &[at(r(1, 34, 0), ERROR, "sub", "sub/incoming.go:96")],
    gone_in: None,
    None);
form!(REORG_BACKLOG, ReorgBacklog, ReorgBacklog, "reorg channel is heavily backlogged, waiting a bit before trying to take process new tipsets",
    fields: &[],
    sites: &[
        at(r(1, 10, 0), ERROR, "chainstore", "store/store.go:376"),
        at(r(1, 11, 0), ERROR, "chainstore", "store/store.go:414"),
        at(r(1, 11, 2), ERROR, "chainstore", "store/store.go:396"),
        at(r(1, 11, 3), ERROR, "chainstore", "store/store.go:409"),
        at(r(1, 17, 0), ERROR, "chainstore", "store/store.go:406"),
        at(r(1, 20, 0), ERROR, "chainstore", "store/store.go:419"),
        at(r(1, 25, 0), ERROR, "chainstore", "store/store.go:402"),
        at(r(1, 27, 0), ERROR, "chainstore", "store/store.go:403"),
        at(r(1, 29, 0), ERROR, "chainstore", "store/store.go:404"),
        at(r(1, 35, 1), ERROR, "chainstore", "store/store.go:407"),
        at(r(1, 36, 0), ERROR, "chainstore", "store/store.go:404"),
    ],
    gone_in: None,
    seen_on(r(1, 23, 0), "2023-04-26T23:12:12.165+0800    ERROR   chainstore      store/store.go:419      reorg channel is heavily backlogged, waiting a bit before trying to take process new tipsets", "lotus#7803 (comment of 2023-04-26, V1.23.0, pasted with tabs turned to spaces)"));
// The pre-v1.10 warning (a `Warnf` in `takeHeaviestTipSet`, twelve lines above `New heaviest
// tipset!`). Its lines by tag were not grepped; the one recorded is derived from that layout
// and v0.9.0's `New heaviest tipset!` at :433.
form!(REORG_BACKLOG_LEGACY, ReorgBacklogLegacy, ReorgBacklog, "Reorg channel running behind, {count} reorgs buffered",
    fields: &[],
    sites: &[at(r(0, 9, 0), WARN, "chainstore", "store/store.go:421")],
    gone_in: Some(r(1, 10, 0)),
    seen("2020-05-14T18:00:03.756-0700\tWARN\tchainstore\tstore/store.go:310\tReorg channel running behind, 1 reorgs buffered", "lotus#1750 (2020-05-15)"));
// An INFO `Infow` in v1.1.0–v1.1.2 (lines not recorded), DEBUG since v1.1.3.
form!(NOT_BETTER, NotBetter, NotBetter, "incoming tipset does not appear to be better than our best chain, ignoring for now",
    fields: &["miners", "bestPweight", "bestTS", "incomingWeight", "incomingTS"],
    sites: &[
        at(r(1, 2, 0), DEBUG, "chain", "chain/sync.go:282"),
        at(r(1, 4, 1), DEBUG, "chain", "chain/sync.go:270"),
        at(r(1, 11, 0), DEBUG, "chain", "chain/sync.go:260"),
        at(r(1, 11, 3), DEBUG, "chain", "chain/sync.go:245"),
        at(r(1, 17, 0), DEBUG, "chain", "chain/sync.go:246"),
        at(r(1, 29, 0), DEBUG, "chain", "chain/sync.go:248"),
    ],
    gone_in: None,
    None);
form!(NOT_BETTER_LEGACY, NotBetterLegacy, NotBetter, "incoming tipset from {miners} does not appear to be better than our best chain, ignoring for now",
    fields: &[],
    sites: &[
        at(r(0, 5, 0), INFO, "chain", "chain/sync.go:215"),
        at(r(0, 6, 0), INFO, "chain", "chain/sync.go:260"),
    ],
    gone_in: Some(r(1, 1, 0)),
    seen("2020-09-08T02:26:54.382Z\tINFO\tchain\tchain/sync.go:260\tincoming tipset from [t09037 t09087] does not appear to be better than our best chain, ignoring for now", "lotus#3638 (2020-09-08, lotus 0.6.0+git.60cae87bf)"));
form!(BAD_BLOCK, BadBlock, BadBlock, "InformNewHead called on block marked as bad: {block} (reason: {reason})",
    fields: &[],
    sites: &[
        at(r(0, 5, 5), WARN, "chain", "chain/sync.go:193"),
        at(r(0, 9, 1), WARN, "chain", "chain/sync.go:239"),
        at(r(1, 1, 1), WARN, "chain", "chain/sync.go:241"),
        at(r(1, 2, 0), WARN, "chain", "chain/sync.go:242"),
        at(r(1, 11, 0), WARN, "chain", "chain/sync.go:232"),
        at(r(1, 11, 3), WARN, "chain", "chain/sync.go:217"),
        at(r(1, 17, 0), WARN, "chain", "chain/sync.go:218"),
        at(r(1, 29, 0), WARN, "chain", "chain/sync.go:220"),
    ],
    gone_in: None,
    seen_on(r(1, 25, 2), r#"{"level":"warn","ts":"2024-02-04T20:34:35.387+0300","logger":"chain","caller":"chain/sync.go:218","msg":"InformNewHead called on block marked as bad: bafy2bzacedukrpxz37go2m5daanq7ewt5o7vlpnsqwymh6a3wk4dk6g5gunws (reason: linked to bafy2bzacebiyxbrli763o6zk7wntt5obvi5qih4jbku2iht5hkpkeonvxqgfk caused by: [bafy2bzaceactbza4qcnersz5fld7gt2azimlnftnezqug5obfkhtkilqrweio] 1 error occurred:\n\t* parent state root did not match computed state (bafy2bzacecwnbvlmn2vlnlpfeoqmrc2kkwwjq4cwvrqcog2utbizt4ozpmkny != bafy2bzacecndd4ioo3mhgi4wizs7hl62crugebkye3cvp7ikqvzxcplfmudku):\n    github.com/filecoin-project/lotus/chain/consensus.CommonBlkChecks.func3\n        /home/admfc/lotus/chain/consensus/common.go:118\n\n)"}"#, "filecoin-project/lily#1189 (comment of 2024-02-04, lotus 1.25.2+mainnet)"));
form!(WEIGHT_DRAW, WeightDraw, WeightDraw, "weight draw",
    fields: &["currTs", "ts"],
    sites: &[
        at(r(1, 1, 3), ERROR, "chainstore", "store/store.go:371"),
        at(r(1, 2, 0), ERROR, "chainstore", "store/store.go:385"),
        at(r(1, 4, 1), ERROR, "chainstore", "store/store.go:394"),
        at(r(1, 5, 1), ERROR, "chainstore", "store/store.go:393"),
        at(r(1, 10, 0), ERROR, "chainstore", "store/store.go:409"),
        at(r(1, 11, 0), ERROR, "chainstore", "store/store.go:447"),
        at(r(1, 11, 2), ERROR, "chainstore", "store/store.go:429"),
        at(r(1, 11, 3), ERROR, "chainstore", "store/store.go:442"),
        at(r(1, 12, 0), ERROR, "chainstore", "store/store.go:429"),
        at(r(1, 17, 0), ERROR, "chainstore", "store/store.go:426"),
        at(r(1, 20, 0), ERROR, "chainstore", "store/store.go:439"),
        at(r(1, 23, 3), ERROR, "chainstore", "store/store.go:444"),
    ],
    gone_in: Some(r(1, 25, 0)),
    None);
// `breakWeightTie` (v1.12.0+): the first call when the incoming tipset wins, the second when
// the current head keeps. Only the current lines are recorded.
form!(TIE_BROKEN_FOR_INCOMING, TieBrokenForIncoming, WeightTieBroken, "weight tie broken in favour of {winner} against {loser}",
    fields: &[], sites: &[at(r(1, 36, 0), INFO, "chainstore", "store/store.go:1342")], gone_in: None,
    None);
form!(TIE_BROKEN_FOR_CURRENT, TieBrokenForCurrent, WeightTieBroken, "weight tie broken in favour of {winner} against {loser}",
    fields: &[], sites: &[at(r(1, 36, 0), INFO, "chainstore", "store/store.go:1345")], gone_in: None,
    None);
// Its line is not recorded; the parser reads it, no writer imitates it.
form!(TIE_UNBROKEN, TieUnbroken, WeightTieBroken, "weight tie between {a} and {b} left unbroken, default to {winner}",
    fields: &[], sites: &[], gone_in: None,
    None);
form!(WEIGHT_SHRANK, WeightShrank, WeightShrank, "chainstore heaviest tipset's weight SHRANK from {from_weight} ({from}) to {to_weight} ({to}) due to equivocation",
    fields: &[], sites: &[at(r(1, 25, 0), WARN, "chainstore", "store/store.go:432")], gone_in: None,
    None);
form!(IMPOSSIBLE_HEIGHT, ImpossibleHeight, ImpossibleHeight, "Received block with impossibly large height {height}",
    fields: &[],
    sites: &[
        at(r(0, 9, 1), ERROR, "chain", "chain/sync.go:233"),
        at(r(1, 1, 1), ERROR, "chain", "chain/sync.go:235"),
        at(r(1, 2, 0), ERROR, "chain", "chain/sync.go:236"),
        at(r(1, 11, 0), ERROR, "chain", "chain/sync.go:226"),
        at(r(1, 11, 3), ERROR, "chain", "chain/sync.go:211"),
        at(r(1, 17, 0), ERROR, "chain", "chain/sync.go:212"),
    ],
    gone_in: Some(r(1, 23, 1)),
    None);
form!(OUTSIDE_CONSENSUS_RANGE, OutsideConsensusRange, ImpossibleHeight, "received block outside of consensus range at height {height}",
    fields: &[], sites: &[at(r(1, 36, 0), INFO, "chain", "chain/sync.go:214")], gone_in: None,
    None);
// The pubsub validator's wording of the same check.
form!(OUTSIDE_CONSENSUS_RANGE_VALIDATOR, OutsideConsensusRangeValidator, ImpossibleHeight, "received block outside of consensus range ({height})",
    fields: &[], sites: &[at(r(1, 36, 0), WARN, "consensus-common", "consensus/iface.go:79")], gone_in: None,
    None);
form!(BLOCK_VALIDATION, BlockValidation, BlockValidation, "block validation",
    fields: &["took", "height", "age"],
    sites: &[
        at(r(1, 4, 2), INFO, "chain", "chain/sync.go:710"),
        at(r(1, 11, 0), INFO, "chain", "chain/sync.go:700"),
        at(r(1, 11, 3), INFO, "chain", "chain/sync.go:624"),
        at(r(1, 17, 0), INFO, "chain", "chain/sync.go:625"),
        at(r(1, 29, 0), INFO, "chain", "chain/sync.go:627"),
        at(r(1, 31, 1), INFO, "chain", "chain/sync.go:646"),
        at(r(1, 36, 0), INFO, "chain", "chain/sync.go:644"),
    ],
    gone_in: None,
    seen("2021-04-17T19:45:41.075-0700\tINFO\tchain\tchain/sync.go:710\tblock validation\t{\"took\": 0.03254636, \"height\": \"680251\", \"age\": 11.075561639}", "lotus#5128 (comment of 2021-04-19, mainnet)"));



// go-f3's `(*gpbftHost).ReceiveDecision` (host.go; logger `f3`; Infow with `instance` and
// `ecHeadEpoch`), the same call from go-f3 v0.0.5 to v0.8.12 at moving lines: written when this
// node's own GPBFT participant decides, not for certificates fetched by exchange. The caller is
// go-log's short caller of a dependency: the module directory and the file. The site recorded is
// Lotus v1.35.0's go-f3 (v0.8.12, host.go:797); lines of other releases parse all the same (the
// row keys on the message and the `f3` logger). No real line was found to sample.
form!(F3_DECISION, F3Decision, Finality, "reached a decision",
    fields: &["instance", "ecHeadEpoch"],
    sites: &[at(r(1, 35, 0), INFO, "f3", "go-f3@v0.8.12/host.go:797")],
    gone_in: None,
    None);

// The same call before go-f3 v0.0.5 renamed it: `Infof("got decision at instance %d, finalized
// head at epoch: %d")` in `(*gpbftHost).ReceiveDecision` (go-f3 v0.0.2 host.go:297 through the
// logger Lotus passed in, its `f3`; v0.0.3 pre-release d48771055cf4 host.go:320; v0.0.3–v0.0.4 on
// go-f3's own `f3` logger). Lotus shipped it only in v1.28.0-rc1 to -rc5 (June–July 2024, F3's
// passive testing on calibnet and mainnet); v1.28.0 itself pinned go-f3 v0.0.5. `Release` has no
// pre-release part, so the site is filed under v1.28.0 and the wording is gone in v1.28.1.
form!(F3_DECISION_LEGACY, F3DecisionLegacy, Finality, "got decision at instance {instance}, finalized head at epoch: {height}",
    fields: &[],
    sites: &[at(r(1, 28, 0), INFO, "f3", "go-f3@v0.0.3-0.20240702063402-d48771055cf4/host.go:320")],
    gone_in: Some(r(1, 28, 1)),
    None);
