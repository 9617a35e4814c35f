//! Tests against real Filecoin data (fixtures/lotus/, see lotus-facts §7): mainnet heights 0–39
//! exported by Forest, both genesis CARs as Lotus embeds them, and the serialization vectors.
//! They live inside the module tree (not `tests/`) so they move with it unchanged.

use std::collections::{BTreeMap, BTreeSet};

use cid::Cid;
use num_bigint::BigInt;

use super::address::Network;
use super::car::{CarError, CarReader, HashCheckError};
use super::cbor::{self, BLAKE2B_256, DAG_CBOR, IDENTITY, RAW, SHA2_256};
use super::header::BlockHeader;
use super::reorg::{exceeds_fork_length, reorg_ops, CHAIN_FINALITY};
use super::scan::{read_chain_headers, ChainHeaders};
use super::signature::SignatureType;
use super::tipset::{TipSet, TipSetKey};
use super::weight::{choose_head, infer_power_log2, tipset_weight, HeadChoice};
use super::chain_message::MsgMeta;

macro_rules! fixture {
    ($name:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/lotus/", $name)
    };
}

fn read_fixture(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn unzstd(path: &str) -> Vec<u8> {
    zstd::stream::decode_all(&read_fixture(path)[..]).unwrap()
}

fn export40() -> Vec<u8> {
    read_fixture(fixture!("forest-export40.car"))
}

fn cid(s: &str) -> Cid {
    s.parse().unwrap()
}

const H39: &str = "bafy2bzacecymez2h5egquoalbtqp6mfegui27kcf7kc4zsqqvpxfi72ssqf2c";
const H38_A: &str = "bafy2bzacedlgv5y67neipi4nlhjxmh74qeb4l5s6bm4uup2tvr7ztyo2vh2rs";
const H38_B: &str = "bafy2bzacece6lib6yr2pnaykwy6zumjuyswormkxh43kosj4mc4ilnw2l26zw";
const H1: &str = "bafy2bzacechdx6xd62lcyy7rnyc4uxcxhuwqslcxfvj77fxlwafij3nhzchpy";
const H2: &str = "bafy2bzaceb5xzclgvwgobsog4qckrkimthkisozhw3bkaxg7iiruajhmym5va";
const H3: &str = "bafy2bzacedjrqan2fwfvhfopi64yickki7miiksecglpeiavf7xueytnzevlu";
const MAINNET_GENESIS: &str = "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2";
const CALIBNET_GENESIS: &str = "bafy2bzacecyaggy24wol5ruvs6qm73gjibs2l2iyhcqmvi7r7a4ph7zx3yqd4";

/// Raw bytes of every header-looking block, keyed by CID.
fn header_blocks(car: &[u8]) -> BTreeMap<Cid, Vec<u8>> {
    CarReader::new(car)
        .unwrap()
        .map(Result::unwrap)
        .filter(|b| b.cid.codec() == DAG_CBOR && b.data.first() == Some(&0x90))
        .filter(|b| BlockHeader::decode(&b.data).is_ok())
        .map(|b| (b.cid, b.data))
        .collect()
}

#[test]
fn export40_every_header_reencodes_byte_identically() {
    let car = export40();
    let blocks = header_blocks(&car);
    assert_eq!(blocks.len(), 49);
    for (cid, bytes) in &blocks {
        let header = BlockHeader::decode(bytes).unwrap();
        assert_eq!(&header.to_cbor().unwrap(), bytes, "{cid}");
        assert_eq!(&header.cid().unwrap(), cid);
        // Through the serde path too (as when nested in a BlockMsg or BSTipSet).
        let via_serde: BlockHeader = serde_ipld_dagcbor::from_slice(bytes).unwrap();
        assert_eq!(via_serde, header);
        // Real headers carry full BLS signatures and WinPoSt proofs (genesis excepted).
        if header.height > 0 {
            let sig = header.block_sig.as_ref().unwrap();
            assert_eq!((sig.sig_type(), sig.data().len()), (SignatureType::Bls, 96));
            assert_eq!(
                header.bls_aggregate.as_ref().unwrap().sig_type(),
                SignatureType::Bls
            );
            assert!(!header.win_post_proof.is_empty());
            assert!(!header.beacon_entries.is_empty());
            assert!(header.win_count() >= 1);
        }
    }
}

#[test]
fn export40_chain_shape() {
    let chain = read_chain_headers(&export40()[..]).unwrap();
    assert_eq!(chain.roots, vec![cid(H39)]);
    assert_eq!(chain.headers.len(), 49);
    assert!(chain.blocks_read > 49);

    let tipsets = chain.tipsets().unwrap();
    assert_eq!(tipsets.len(), 33);
    assert_eq!(chain.null_rounds(), vec![4, 7, 10, 24, 25, 26, 27]);
    let heights: Vec<i64> = tipsets.iter().map(TipSet::height).collect();
    assert_eq!(heights.first(), Some(&0));
    assert_eq!(heights.last(), Some(&39));
    // Multi-block tipsets (2–3 blocks) only at 29–38.
    for ts in &tipsets {
        let n = ts.blocks().len();
        if (29..=38).contains(&ts.height()) {
            assert!((2..=3).contains(&n), "h{} has {n} blocks", ts.height());
        } else {
            assert_eq!(n, 1, "h{}", ts.height());
        }
    }
    let miners: BTreeSet<String> = chain
        .headers
        .iter()
        .skip(1)
        .map(|(_, h)| h.miner.to_string())
        .collect();
    assert_eq!(
        miners,
        ["f01000", "f01001", "f01002"].map(String::from).into()
    );

    // Each tipset's ticket-sorted key is exactly the Parents of the next: this checks our block
    // order against the order Lotus wrote into 32 real headers.
    for pair in tipsets.windows(2) {
        assert_eq!(
            pair[1].parents(),
            pair[0].key(),
            "parents of h{}",
            pair[1].height()
        );
    }
    assert_eq!(tipsets[1].cids(), &[cid(H1)]);
    assert_eq!(tipsets[2].cids(), &[cid(H2)]);
    assert_eq!(tipsets[3].cids(), &[cid(H3)]);
    assert_eq!(tipsets[0].cids(), &[cid(MAINNET_GENESIS)]);
}

#[test]
fn export40_root_header_values() {
    let car = export40();
    let blocks = header_blocks(&car);
    let bytes = &blocks[&cid(H39)];
    assert_eq!(bytes.len(), 938);
    let h = BlockHeader::decode(bytes).unwrap();
    assert_eq!(h.height, 39);
    assert_eq!(h.miner.to_string(), "f01002");
    assert_eq!(h.miner.to_string_on(Network::Testnet), "t01002");
    assert_eq!(h.parent_weight, BigInt::from(514290));
    assert_eq!(h.parent_base_fee, BigInt::from(1414065));
    assert_eq!(h.win_count(), 4);
    assert_eq!(h.parents, TipSetKey::new(vec![cid(H38_A), cid(H38_B)]));
    assert_eq!(h.parents.to_string(), format!("{{{H38_A},{H38_B}}}"));

    // The parents are ticket-sorted: rebuilding the h38 tipset from its headers in reverse
    // order gives back the same key.
    let h38: Vec<BlockHeader> = [H38_B, H38_A]
        .iter()
        .map(|c| BlockHeader::decode(&blocks[&cid(c)]).unwrap())
        .collect();
    assert!(h38[1].ticket_digest() < h38[0].ticket_digest());
    let ts38 = TipSet::new(h38).unwrap();
    assert_eq!(ts38.key(), &h.parents);
    assert_eq!(ts38.to_string(), format!("[{H38_A} {H38_B}]"));

    let h1 = BlockHeader::decode(&blocks[&cid(H1)]).unwrap();
    assert_eq!(h1.parent_weight, BigInt::from(12544));
    assert_eq!(h1.parents, TipSetKey::new(vec![cid(MAINNET_GENESIS)]));
}

#[test]
fn export40_json_report() {
    let chain = read_chain_headers(&export40()[..]).unwrap();
    let json = serde_json::to_value(chain.report(Network::Mainnet)).unwrap();
    let object = json.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), ["headers", "roots"]);
    assert_eq!(json["roots"], serde_json::json!([H39]));
    let headers = json["headers"].as_array().unwrap();
    assert_eq!(headers.len(), 49);
    let last = headers.last().unwrap();
    assert_eq!(
        last,
        &serde_json::json!({
            "cid": H39, "height": 39, "miner": "f01002", "parents": [H38_A, H38_B],
            "parent_weight": "514290", "timestamp": last["timestamp"], "win_count": 4
        })
    );
    assert_eq!(last["timestamp"], 1598306400 + 39 * 30);
    // Ordered by height, then CID string.
    let order: Vec<(i64, String)> = headers
        .iter()
        .map(|h| {
            (
                h["height"].as_i64().unwrap(),
                h["cid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(headers[1]["parent_weight"], "12544");
    // Round-trips through JSON.
    let back: super::scan::HeaderReport = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), json);

    let table = chain.tipset_table(Network::Mainnet).unwrap();
    assert_eq!(table.len(), 33);
    assert_eq!(table.last().unwrap().parent_weight, "514290");
}

/// L = 49 from heights 1–3, and the weight formula reproduces every ParentWeight of the 40 epochs.
#[test]
fn export40_weights_follow_the_formula() {
    let chain = read_chain_headers(&export40()[..]).unwrap();
    let tipsets = chain.tipsets().unwrap();
    assert_eq!(
        infer_power_log2(&tipsets[1], tipsets[2].parent_weight()),
        Some(49)
    );
    assert_eq!(
        infer_power_log2(&tipsets[2], tipsets[3].parent_weight()),
        Some(49)
    );
    assert_eq!(tipset_weight(&tipsets[1], 49), BigInt::from(26342));
    assert_eq!(tipset_weight(&tipsets[2], 49), BigInt::from(41394));
    for pair in tipsets[1..].windows(2) {
        let l = infer_power_log2(&pair[0], pair[1].parent_weight());
        assert!(
            l.is_some(),
            "no L explains h{} -> h{}",
            pair[0].height(),
            pair[1].height()
        );
        assert_eq!(
            &tipset_weight(&pair[0], l.unwrap()),
            pair[1].parent_weight()
        );
    }
    // Every block of one tipset states the same ParentWeight.
    for ts in &tipsets {
        assert!(ts
            .blocks()
            .iter()
            .all(|b| &b.parent_weight == ts.parent_weight()));
    }

    // Head choice on real tipsets: h39 is heavier than its parent h38.
    let (h38, h39) = (&tipsets[31], &tipsets[32]);
    let l = infer_power_log2(h38, h39.parent_weight()).unwrap();
    let (w38, w39) = (tipset_weight(h38, l), tipset_weight(h39, l));
    assert_eq!(&w38, h39.parent_weight());
    assert_eq!(
        choose_head(h39, &w39, h38, &w38),
        HeadChoice::CandidateHeavier
    );
    // A single-block subset of h38 with equal weight loses or wins by ticket, never "unbroken":
    // the two blocks of h38 have different tickets.
    let first_only = TipSet::new(vec![h38.blocks()[0].clone()]).unwrap();
    let second_only = TipSet::new(vec![h38.blocks()[1].clone()]).unwrap();
    assert!(matches!(
        choose_head(&first_only, &w38, &second_only, &w38),
        HeadChoice::CandidateWinsTie { index: 0 }
    ));
}

#[test]
fn export40_reorg_walks() {
    let chain = read_chain_headers(&export40()[..]).unwrap();
    let tipsets = chain.tipsets().unwrap();
    let by_key: BTreeMap<TipSetKey, TipSet> = tipsets
        .iter()
        .map(|t| (t.key().clone(), t.clone()))
        .collect();
    let lookup = |k: &TipSetKey| by_key.get(k).cloned();
    let at = |h: i64| tipsets.iter().find(|t| t.height() == h).unwrap();

    let ops = reorg_ops(at(38), at(39), lookup).unwrap();
    assert_eq!((ops.revert_count(), ops.apply_count()), (0, 1));
    // From h3 to h11 crosses the null rounds 4, 7 and 10, which contribute nothing.
    let ops = reorg_ops(at(3), at(11), lookup).unwrap();
    let applied: Vec<i64> = ops.apply_oldest_first().map(TipSet::height).collect();
    assert_eq!(applied, vec![5, 6, 8, 9, 11]);
    assert_eq!(ops.revert_count(), 0);
    // Widening h38 from one block to both: revert 1, apply 1.
    let narrow = TipSet::new(vec![at(38).blocks()[0].clone()]).unwrap();
    let mut with_narrow = by_key.clone();
    with_narrow.insert(narrow.key().clone(), narrow.clone());
    let ops = reorg_ops(&narrow, at(38), |k: &TipSetKey| with_narrow.get(k).cloned()).unwrap();
    assert_eq!((ops.revert_count(), ops.apply_count()), (1, 1));
    assert_eq!(
        exceeds_fork_length(&narrow, at(38), CHAIN_FINALITY, None, |k: &TipSetKey| {
            with_narrow.get(k).cloned()
        }),
        Ok(false)
    );
    assert_eq!(
        exceeds_fork_length(&narrow, at(38), 1, None, |k: &TipSetKey| with_narrow
            .get(k)
            .cloned()),
        Ok(true)
    );
}

#[test]
fn chain4_is_the_same_chain_to_height_3() {
    let chain4 = read_chain_headers(&read_fixture(fixture!("forest-chain4.car"))[..]).unwrap();
    assert_eq!(chain4.roots, vec![cid(H3)]);
    let cids: Vec<(i64, Cid)> = chain4.headers.iter().map(|(c, h)| (h.height, *c)).collect();
    assert_eq!(
        cids,
        vec![
            (0, cid(MAINNET_GENESIS)),
            (1, cid(H1)),
            (2, cid(H2)),
            (3, cid(H3))
        ]
    );
    let full = read_chain_headers(&export40()[..]).unwrap();
    assert_eq!(&full.headers[..4], &chain4.headers[..]);
}

fn genesis_car_stats(car: &[u8]) -> (ChainHeaders, BTreeMap<(u64, u64), usize>) {
    let mut kinds = BTreeMap::new();
    for block in CarReader::new(car).unwrap() {
        let block = block.unwrap();
        *kinds
            .entry((block.cid.codec(), block.cid.hash().code()))
            .or_default() += 1;
    }
    (read_chain_headers(car).unwrap(), kinds)
}

#[test]
fn mainnet_genesis_car() {
    let car = unzstd(fixture!("lotus-genesis-mainnet.car.zst"));
    assert_eq!(car.len(), 1_104_195);
    let (chain, kinds) = genesis_car_stats(&car);
    assert_eq!(chain.blocks_read, 1222);
    assert_eq!(kinds[&(DAG_CBOR, BLAKE2B_256)], 1211);
    assert_eq!(kinds[&(DAG_CBOR, SHA2_256)], 1);
    assert_eq!(kinds[&(RAW, IDENTITY)], 10);
    assert_eq!(chain.roots, vec![cid(MAINNET_GENESIS)]);
    assert_eq!(chain.headers.len(), 1);
    let (genesis_cid, genesis) = &chain.headers[0];
    assert_eq!(genesis_cid, &cid(MAINNET_GENESIS));
    assert_eq!(
        genesis.to_cbor().unwrap(),
        super::header::tests::genesis_bytes()
    );
    assert_eq!((genesis.height, genesis.timestamp), (0, 1598306400));
    assert_eq!(
        (genesis.block_sig.as_ref(), genesis.bls_aggregate.as_ref()),
        (None, None)
    );
    // The genesis's parent is the sha256 "Filecoin genesis" note, present in the CAR.
    let note = genesis.parents.cids()[0];
    assert_eq!(note.hash().code(), SHA2_256);
    assert!(CarReader::new(&car[..])
        .unwrap()
        .any(|b| b.unwrap().cid == note));
}

#[test]
fn calibnet_genesis_car() {
    let car = unzstd(fixture!("lotus-genesis-calibnet.car.zst"));
    assert_eq!(car.len(), 1_101_066);
    let (chain, _) = genesis_car_stats(&car);
    assert_eq!(chain.blocks_read, 1207);
    assert_eq!(chain.roots, vec![cid(CALIBNET_GENESIS)]);
    assert_eq!(chain.headers.len(), 1);
    let (genesis_cid, genesis) = &chain.headers[0];
    assert_eq!(genesis_cid, &cid(CALIBNET_GENESIS));
    assert_eq!(genesis.timestamp, 1667326380);
    assert_eq!(
        genesis.parent_state_root,
        cid("bafy2bzacecgqgzh3gxpariy3mzqb37y2vvxoaw5nwbrlzkhso6owus3zqckwe")
    );
    let bytes = genesis.to_cbor().unwrap();
    assert_eq!(cbor::block_cid(&bytes), *genesis_cid);
}

#[test]
fn corrupting_a_real_car_is_detected() {
    let mut car = read_fixture(fixture!("forest-chain4.car"));
    // Flip the last byte of the file: inside the data of the last block.
    *car.last_mut().unwrap() ^= 0x01;
    let mut reader = CarReader::new(&car[..]).unwrap();
    let err = loop {
        match reader.next_block() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("corruption not detected"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            err,
            CarError::Hash {
                source: HashCheckError::Mismatch,
                ..
            }
        ),
        "{err}"
    );
    // Truncation in the middle of the file.
    let car = read_fixture(fixture!("forest-chain4.car"));
    let mut reader = CarReader::new(&car[..car.len() / 2]).unwrap();
    let err = std::iter::from_fn(|| reader.next_block().transpose())
        .find_map(Result::err)
        .unwrap();
    assert!(matches!(err, CarError::Truncated { .. }), "{err}");
}

#[test]
fn car_reader_streams_from_a_zstd_decoder() {
    // No full buffer: read straight from the decompressor.
    let file = std::fs::File::open(fixture!("lotus-genesis-mainnet.car.zst")).unwrap();
    let decoder = zstd::stream::read::Decoder::new(file).unwrap();
    let chain = read_chain_headers(std::io::BufReader::new(decoder)).unwrap();
    assert_eq!(chain.blocks_read, 1222);
    assert_eq!(chain.roots, vec![cid(MAINNET_GENESIS)]);
}

// -------------------------------------------------------------------------------------------
// serialization-vectors block_headers.json

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn serialization_vectors_decode_and_match_their_lotus_json() {
    let vectors: serde_json::Value = serde_json::from_slice(&read_fixture(fixture!(
        "serialization-vectors-block_headers.json"
    )))
    .unwrap();
    let vectors = vectors.as_array().unwrap();
    assert_eq!(vectors.len(), 5);
    for (i, v) in vectors.iter().enumerate() {
        let bytes = super::header::tests::hex(v["cbor_hex"].as_str().unwrap());
        let (h, c) = BlockHeader::decode_with_cid(&bytes).unwrap();
        assert_eq!(c.to_string(), v["cid"].as_str().unwrap());
        assert_eq!(h.to_cbor().unwrap(), bytes);
        assert_eq!(h.cid().unwrap(), c);

        let j = &v["block"];
        let cid_of = |x: &serde_json::Value| x["/"].as_str().unwrap().to_owned();
        assert_eq!(h.miner.to_string_on(Network::Testnet), j["Miner"]);
        assert_eq!(
            base64(&h.ticket.as_ref().unwrap().vrf_proof),
            j["Ticket"]["VRFProof"]
        );
        let ep = h.election_proof.as_ref().unwrap();
        assert_eq!(
            ep.win_count,
            j["ElectionProof"]["WinCount"].as_i64().unwrap()
        );
        assert_eq!(base64(&ep.vrf_proof), j["ElectionProof"]["VRFProof"]);
        let beacons: Vec<(u64, String)> = h
            .beacon_entries
            .iter()
            .map(|b| (b.round, base64(&b.data)))
            .collect();
        let beacons_json: Vec<(u64, String)> = j["BeaconEntries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["Round"].as_u64().unwrap(),
                    b["Data"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(beacons, beacons_json);
        let posts: Vec<(i64, String)> = h
            .win_post_proof
            .iter()
            .map(|p| (p.post_proof, base64(&p.proof_bytes)))
            .collect();
        let posts_json: Vec<(i64, String)> = j["WinPoStProof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["PoStProof"].as_i64().unwrap(),
                    p["ProofBytes"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(posts, posts_json);
        let parents: Vec<String> = h.parents.cids().iter().map(Cid::to_string).collect();
        let parents_json: Vec<String> = j["Parents"]
            .as_array()
            .unwrap()
            .iter()
            .map(cid_of)
            .collect();
        assert_eq!(parents, parents_json);
        assert_eq!(h.parent_weight.to_string(), j["ParentWeight"]);
        assert_eq!(h.height, j["Height"].as_i64().unwrap());
        assert_eq!(
            h.parent_state_root.to_string(),
            cid_of(&j["ParentStateRoot"])
        );
        assert_eq!(
            h.parent_message_receipts.to_string(),
            cid_of(&j["ParentMessageReceipts"])
        );
        assert_eq!(h.messages.to_string(), cid_of(&j["Messages"]));
        for (sig, key) in [
            (&h.bls_aggregate, "BLSAggregate"),
            (&h.block_sig, "BlockSig"),
        ] {
            let sig = sig.as_ref().unwrap();
            assert_eq!(
                sig.sig_type() as u8 as u64,
                j[key]["Type"].as_u64().unwrap()
            );
            assert_eq!(base64(sig.data()), j[key]["Data"]);
        }
        assert_eq!(h.timestamp, j["Timestamp"].as_u64().unwrap());
        assert_eq!(h.fork_signaling, j["ForkSignaling"].as_u64().unwrap());
        assert_eq!(h.parent_base_fee.to_string(), j["ParentBaseFee"]);
        assert_eq!(h.height, i as i64 + 1);
    }
}

#[test]
fn export40_message_lists_rebuild_every_headers_messages_cid() {
    // The real mainnet segment carries each block's MsgMeta and its two AMTs. Reading the lists
    // back out of the AMTs and rebuilding the MsgMeta from them must give the header's
    // `Messages` CID: the check a gossip validator makes on a BlockMsg's two lists.
    use fvm_ipld_blockstore::Blockstore;
    let car = export40();
    let store = fvm_ipld_blockstore::MemoryBlockstore::new();
    for block in CarReader::new(&car[..]).unwrap() {
        let block = block.unwrap();
        store.put_keyed(&block.cid, &block.data).unwrap();
    }
    let list = |root: &Cid| -> Vec<Cid> { super::chain_message::amt_v0_cids(root, &store).unwrap() };
    let (mut checked, mut with_messages) = (0, 0);
    for bytes in header_blocks(&car).values() {
        let header = BlockHeader::decode(bytes).unwrap();
        if header.height == 0 {
            continue;
        }
        let meta_bytes = store.get(&header.messages).unwrap().expect("the segment holds every MsgMeta");
        let meta = MsgMeta::decode(&meta_bytes).unwrap();
        let (bls, secpk) = (list(&meta.bls_messages), list(&meta.secpk_messages));
        with_messages += usize::from(!bls.is_empty() || !secpk.is_empty());
        let rebuilt = MsgMeta::from_lists(&bls, &secpk).unwrap();
        assert_eq!(rebuilt, meta, "height {}", header.height);
        assert_eq!(rebuilt.cid().unwrap(), header.messages, "height {}", header.height);
        if let Some(first) = bls.first().or(secpk.first()) {
            // One CID changed: the header no longer matches.
            let mut wrong = bls.clone();
            wrong.push(*first);
            assert_ne!(MsgMeta::from_lists(&wrong, &secpk).unwrap().cid().unwrap(), header.messages);
        }
        checked += 1;
    }
    assert!(checked >= 39, "{checked} headers");
    eprintln!("{checked} headers checked, {with_messages} with messages");
}
