//! The networks lsync knows how to join, and genesis headers from CAR files.

use std::io::Read;

use lsync_core::chain::{BlockHeader, CarReader};

use super::LaunchError;

/// A network lsync knows how to join.
#[derive(Debug)]
pub struct Preset {
    pub name: &'static str,
    /// NetworkName of the genesis Init actor: the gossip topic is `/fil/blocks/<this>`.
    pub network_name: &'static str,
    pub genesis_cid: &'static str,
    /// Lotus's genesis CAR, zstd-compressed, as shipped in `build/genesis/`.
    pub genesis_car_zst: &'static [u8],
    pub block_delay_secs: u64,
    pub bootstrap: &'static [&'static str],
}

/// Presets from lotus-facts §4.3, §4.4, §6.4 (genesis CARs are Lotus's own, byte for byte).
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "mainnet",
        network_name: "testnetnet",
        genesis_cid: "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2",
        genesis_car_zst: include_bytes!("../../../fixtures/lotus/lotus-genesis-mainnet.car.zst"),
        block_delay_secs: 30,
        bootstrap: &[
            "/dns/bootstrap.filecoin.chain.love/tcp/1235/p2p/12D3KooWBF8cpp65hp2u9LK5mh19x67ftAam84z9LsfaquTDSBpt",
        ],
    },
    Preset {
        name: "calibnet",
        network_name: "calibrationnet",
        genesis_cid: "bafy2bzacecyaggy24wol5ruvs6qm73gjibs2l2iyhcqmvi7r7a4ph7zx3yqd4",
        genesis_car_zst: include_bytes!("../../../fixtures/lotus/lotus-genesis-calibnet.car.zst"),
        block_delay_secs: 30,
        bootstrap: &[
            "/dns/bootstrap.calibration.filecoin.chain.love/tcp/1237/p2p/12D3KooWQPYouEAsUQKzvFUA9sQ8tz4rfpqtTzh2eL6USd9bwg7x",
        ],
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

impl Preset {
    /// The embedded genesis header, checked against the preset's CID.
    pub fn genesis(&self) -> Result<BlockHeader, LaunchError> {
        let what = format!("the embedded {} genesis", self.name);
        let dec = zstd::stream::read::Decoder::new(self.genesis_car_zst).map_err(|e| LaunchError::Car { what: what.clone(), reason: e.to_string() })?;
        let header = genesis_from_car(dec, &what)?;
        let cid = header.cid().map_err(|e| LaunchError::Car { what: what.clone(), reason: e.to_string() })?.to_string();
        if cid != self.genesis_cid {
            return Err(LaunchError::Car { what, reason: format!("its root is {cid}, expected {}", self.genesis_cid) });
        }
        Ok(header)
    }
}

/// The root block of a CAR, decoded as a block header (a genesis CAR's root is the genesis).
/// `what` names the CAR in errors.
pub fn genesis_from_car(reader: impl Read, what: &str) -> Result<BlockHeader, LaunchError> {
    let car_err = |reason: String| LaunchError::Car { what: what.to_string(), reason };
    let mut car = CarReader::new(reader).map_err(|e| car_err(format!("not a valid CAR file: {e}")))?;
    let root = *car.roots().first().ok_or_else(|| car_err("it has no root".into()))?;
    while let Some(block) = car.next_block().map_err(|e| car_err(e.to_string()))? {
        if block.cid == root {
            return BlockHeader::decode(&block.data).map_err(|e| car_err(format!("its root is not a block header: {e}")));
        }
    }
    Err(car_err(format!("it does not contain its root block {root}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_genesis_match_their_cids() {
        for p in PRESETS {
            let header = p.genesis().unwrap();
            assert_eq!(header.cid().unwrap().to_string(), p.genesis_cid);
        }
        assert!(preset("mainnet").is_some() && preset("nope").is_none());
    }

    #[test]
    fn a_car_that_is_not_one_is_a_clear_error() {
        let err = genesis_from_car(&b"not a car"[..], "x.car").unwrap_err().to_string();
        assert!(err.starts_with("x.car: not a valid CAR file"), "{err}");
    }
}
