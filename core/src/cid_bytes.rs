//! CIDv1 text (`b` + RFC 4648 base32, lower case, no padding — how Lotus prints every block CID)
//! to its binary form and back, by hand.
//!
//! Why not the `cid` crate here: the store keeps CIDs as bytes (a Filecoin block CID is 62
//! characters of text but 38 bytes, of which 6 are the same prefix on every block), and a
//! full node's journal names ~4.5 new CIDs per line. Through `multibase` a text → bytes → text
//! trip allocates three times and costs more than the rest of the line; these loops do not
//! allocate. Property tests hold both directions to the `cid` crate's (`tests` below).

/// The parts of a CIDv1's bytes: `prefix_len` bytes of version, codec, hash function and digest
/// length (all minimal varints), then the digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CidLayout {
    pub prefix_len: usize,
    pub digest_len: usize,
}

/// Most digest bytes a CID may have (the `cid` crate's default `Multihash<64>`).
pub const MAX_DIGEST: usize = 64;

/// Reads a minimal unsigned varint of at most 64 bits (10 bytes, the last holding one bit):
/// what `unsigned-varint` reads and writes back unchanged.
fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let byte = *b.get(*pos + i)?;
        v |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            // A last byte of zero after others is a non-minimal encoding; a tenth byte above 1
            // overflows 64 bits (the crate would print other bytes back).
            if (i > 0 && byte == 0) || (i == 9 && byte > 1) {
                return None;
            }
            *pos += i + 1;
            return Some(v);
        }
    }
    None
}

/// The layout of `bytes` if they are exactly one CIDv1 (version 1, any codec, a multihash whose
/// length byte matches what follows).
pub fn v1_layout(bytes: &[u8]) -> Option<CidLayout> {
    let mut pos = 0;
    if varint(bytes, &mut pos)? != 1 {
        return None;
    }
    varint(bytes, &mut pos)?; // codec
    varint(bytes, &mut pos)?; // hash function
    let len = varint(bytes, &mut pos)? as usize;
    (len <= MAX_DIGEST && bytes.len() - pos == len).then_some(CidLayout { prefix_len: pos, digest_len: len })
}

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Base32 value of each byte; `0xff` for bytes outside the lower-case alphabet.
const DECODE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 32 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Most bytes a CID may have: four varints of at most 10 bytes and the digest.
const MAX_CID_BYTES: usize = 40 + MAX_DIGEST;

/// Appends the bytes of `text` to `out` when `text` is a canonical CIDv1 text — the form the
/// `cid` crate prints: `b`, lower-case base32 without padding and without stray trailing bits,
/// of bytes that are exactly one CIDv1. Returns its layout; `None` (and `out` unchanged) for
/// anything else, which callers keep as text.
pub fn v1_text_to_bytes(text: &str, out: &mut Vec<u8>) -> Option<CidLayout> {
    let t = text.as_bytes();
    if is_block_text(t) {
        return is_canonical_block_text(t).then(|| block_text_to_bytes(t, out));
    }
    let (buf, n, layout) = decode_v1(text)?;
    out.extend_from_slice(&buf[..n]);
    Some(layout)
}

/// True when `text` is a canonical CIDv1 text (see [`v1_text_to_bytes`]), without its bytes.
pub fn is_canonical_v1_text(text: &str) -> bool {
    let t = text.as_bytes();
    if is_block_text(t) {
        return is_canonical_block_text(t);
    }
    decode_v1(text).is_some()
}

/// A text of a block CID's length and prefix (canonical or not: [`is_canonical_block_text`]).
fn is_block_text(t: &[u8]) -> bool {
    t.len() == BLOCK_TEXT_LEN && t.starts_with(BLOCK_TEXT_PREFIX)
}

/// How every Filecoin block CID's text begins: `b`, then the base32 of its prefix bytes
/// `01 71 a0 e4 02 20` (CIDv1, dag-cbor, blake2b-256, 32 bytes) but for that prefix's last three
/// bits, which are the top of the next character.
const BLOCK_TEXT_PREFIX: &[u8] = b"bafy2bzace";
/// `b` and 61 characters: the 304 bits of 38 bytes and one padding bit.
const BLOCK_TEXT_LEN: usize = 62;

/// [`is_canonical_v1_text`] for a text of a block CID's length and prefix, without decoding it:
/// with the prefix fixed, its bytes are a CIDv1 with a 32-byte digest exactly when the next
/// character's top three bits are zero (`a`..`d`), every character is base32 and the padding bit
/// (the last character's lowest) is zero. A full node's journal names ~4.5 new block CIDs a line;
/// the parser checks each, and decoding them to do so was ~6 % of an ingest's CPU.
fn is_canonical_block_text(t: &[u8]) -> bool {
    let rest = &t[BLOCK_TEXT_PREFIX.len()..];
    matches!(rest[0], b'a'..=b'd') && all_base32(rest) && DECODE[t[BLOCK_TEXT_LEN - 1] as usize] & 1 == 0
}

/// The bytes of a canonical block CID text ([`is_canonical_block_text`]): seven groups of eight
/// characters (five bytes each), then five characters (three bytes and the padding bit). Its
/// layout is the prefix's; nothing is left to check. Segments store every CID they name as bytes,
/// ~4.5 new ones a line of a full node's journal: this takes 32 ns where decoding a text of any
/// CID (checks, varints, any length) took 57 ns.
fn block_text_to_bytes(t: &[u8], out: &mut Vec<u8>) -> CidLayout {
    let value = |chars: &[u8]| chars.iter().fold(0u64, |acc, &c| (acc << 5) | DECODE[c as usize] as u64);
    let mut bytes = [0u8; 38];
    for (chars, five) in t[1..57].chunks_exact(8).zip(bytes.chunks_exact_mut(5)) {
        five.copy_from_slice(&value(chars).to_be_bytes()[3..]);
    }
    bytes[35..].copy_from_slice(&(value(&t[57..]) >> 1).to_be_bytes()[5..]);
    out.extend_from_slice(&bytes);
    CidLayout { prefix_len: 6, digest_len: 32 }
}

/// True when every byte of `b` is in the base32 alphabet. Eight bytes are checked at once in a
/// `u64`: a byte's high bit after the subtractions says whether it is at least `lo` / at most
/// `hi` (6 ns for a block CID's 52 characters; a table lookup per byte took 20–30 ns).
fn all_base32(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut bad = 0u64;
    let mut check = |x: u64| {
        // `x | HIGH` puts every byte at 0x80 or more, so `at_least` never borrows. `at_most`
        // borrows only past a byte of 0x80 or more, which is bad by itself: the others' answers
        // may then be garbled, but the word is bad whatever they say (and `wrapping_sub`
        // keeps that case from overflowing in a debug build).
        let at_least = |lo: u8| ((x | HIGH) - ONES * lo as u64) & HIGH;
        let at_most = |hi: u8| ((ONES * hi as u64) | HIGH).wrapping_sub(x) & HIGH;
        let letters = at_least(b'a') & at_most(b'z');
        let digits = at_least(b'2') & at_most(b'7');
        bad |= (x & HIGH) | (!(letters | digits) & HIGH);
    };
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        check(u64::from_le_bytes(w.try_into().expect("eight bytes")));
    }
    let mut last = [b'a'; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    check(u64::from_le_bytes(last));
    bad == 0
}

fn decode_v1(text: &str) -> Option<([u8; MAX_CID_BYTES + 5], usize, CidLayout)> {
    let body = text.as_bytes().strip_prefix(b"b")?;
    // Lengths that no byte count produces (1, 3, 6 mod 8) are not canonical.
    let tail = body.len() % 8;
    if !matches!(tail, 0 | 2 | 4 | 5 | 7) || body.len() * 5 / 8 > MAX_CID_BYTES {
        return None;
    }
    let mut buf = [0u8; MAX_CID_BYTES + 5];
    let mut n = 0;
    // Eight characters are five bytes: decode them as one 40-bit number.
    let mut groups = body.chunks_exact(8);
    for g in &mut groups {
        let mut acc = 0u64;
        let mut bad = 0u8;
        for &c in g {
            let v = DECODE[c as usize];
            bad |= v;
            acc = (acc << 5) | (v & 31) as u64;
        }
        if bad & 0x80 != 0 {
            return None;
        }
        buf[n..n + 5].copy_from_slice(&acc.to_be_bytes()[3..]);
        n += 5;
    }
    let rest = groups.remainder();
    if !rest.is_empty() {
        let mut acc = 0u64;
        let mut bad = 0u8;
        for &c in rest {
            let v = DECODE[c as usize];
            bad |= v;
            acc = (acc << 5) | (v & 31) as u64;
        }
        let bits = 5 * rest.len() as u32;
        let whole = bits / 8;
        // Leftover bits must be zero, or the text is one of several spellings of these bytes.
        if bad & 0x80 != 0 || acc & ((1u64 << (bits % 8)) - 1) != 0 {
            return None;
        }
        let acc = acc >> (bits % 8);
        for i in 0..whole {
            buf[n] = (acc >> (8 * (whole - 1 - i))) as u8;
            n += 1;
        }
    }
    let layout = v1_layout(&buf[..n])?;
    Some((buf, n, layout))
}

/// Appends the canonical text of CID bytes (as [`v1_text_to_bytes`] accepted them) to `out`.
/// Exports write this text for every CID of every segment they read: the characters go to a
/// buffer by index and into `out` at once (a `String::push` per character cost twice as much).
pub fn v1_bytes_to_text(bytes: &[u8], out: &mut String) {
    let len = 1 + (bytes.len() * 8).div_ceil(5);
    let mut stack = [0u8; 128];
    let mut heap = Vec::new();
    // No CID of this chain is longer than 128 characters; a long hash still gets its text.
    let buf: &mut [u8] = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        &mut heap
    };
    buf[0] = b'b';
    let char_of = |v: u64| ALPHABET[(v & 31) as usize];
    // Five bytes are eight characters.
    let mut n = 1;
    let mut groups = bytes.chunks_exact(5);
    for g in &mut groups {
        let acc = u64::from_be_bytes([0, 0, 0, g[0], g[1], g[2], g[3], g[4]]);
        for (i, c) in buf[n..n + 8].iter_mut().enumerate() {
            *c = char_of(acc >> (35 - 5 * i));
        }
        n += 8;
    }
    let mut acc = 0u64;
    let mut bits = 0u32;
    for &b in groups.remainder() {
        acc = (acc << 8) | b as u64;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            buf[n] = char_of(acc >> bits);
            n += 1;
        }
    }
    if bits > 0 {
        buf[n] = char_of(acc << (5 - bits));
        n += 1;
    }
    debug_assert_eq!(n, len);
    out.push_str(std::str::from_utf8(buf).expect("the base32 alphabet is ASCII"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use cid::Cid;
    use proptest::prelude::*;

    const BLOCK: &str = "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2";

    /// What the `cid` crate says: the bytes of `text` if it parses as a CIDv1 and prints back
    /// as itself.
    fn crate_answer(text: &str) -> Option<Vec<u8>> {
        let c = Cid::try_from(text).ok()?;
        (c.version() == cid::Version::V1 && c.to_string() == text).then(|| c.to_bytes())
    }

    #[test]
    fn every_character_after_a_block_prefix_and_in_the_last_place_is_judged_as_decoding_does() {
        for i in [BLOCK_TEXT_PREFIX.len(), BLOCK_TEXT_LEN - 1] {
            for c in 0..128u8 {
                let mut t = BLOCK.as_bytes().to_vec();
                t[i] = c;
                let t = String::from_utf8(t).unwrap();
                assert_eq!(is_canonical_v1_text(&t), decode_v1(&t).is_some(), "{t}");
            }
        }
    }

    #[test]
    fn a_filecoin_block_cid_is_38_bytes_with_a_6_byte_prefix() {
        let mut b = Vec::new();
        let l = v1_text_to_bytes(BLOCK, &mut b).unwrap();
        assert_eq!((b.len(), l), (38, CidLayout { prefix_len: 6, digest_len: 32 }));
        assert_eq!(Some(b.clone()), crate_answer(BLOCK));
        let mut t = String::new();
        v1_bytes_to_text(&b, &mut t);
        assert_eq!(t, BLOCK);
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        let mut b = vec![7u8];
        for t in [
            "",
            "b",
            &BLOCK.to_uppercase(),
            &BLOCK[1..],                // no multibase prefix
            &BLOCK[..BLOCK.len() - 1],  // a character short
            &format!("{BLOCK}a"),       // one too many
            "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm3", // stray trailing bits
            "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
            "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm=",
        ] {
            assert_eq!(v1_text_to_bytes(t, &mut b), None, "{t}");
            assert_eq!(crate_answer(t), None, "{t}");
            assert_eq!(b, vec![7u8], "output left as it was");
        }
    }

    fn arb_varint() -> impl Strategy<Value = Vec<u8>> {
        any::<u64>().prop_map(|v| {
            let mut out = Vec::new();
            let mut v = v >> (v % 57);
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
            out
        })
    }

    /// Block CID texts, and near misses of them: another character anywhere (in or out of the
    /// alphabet, in the prefix, in the character after it, in the last one).
    fn arb_block_text() -> impl Strategy<Value = String> {
        (prop::collection::vec(any::<u8>(), 32), prop::option::of((0usize..BLOCK_TEXT_LEN, any::<u8>()))).prop_map(|(digest, flip)| {
            let mut bytes = vec![0x01, 0x71, 0xa0, 0xe4, 0x02, 0x20];
            bytes.extend(&digest);
            let mut text = String::new();
            v1_bytes_to_text(&bytes, &mut text);
            let mut t = text.into_bytes();
            if let Some((i, c)) = flip {
                t[i] = c % 128;
            }
            String::from_utf8(t).expect("ASCII")
        })
    }

    proptest! {
        #[test]
        fn base32_bytes_are_told_as_the_table_tells_them(b in prop::collection::vec(prop_oneof![
            4 => proptest::sample::select(ALPHABET.to_vec()),
            1 => any::<u8>(),
        ], 0..40)) {
            prop_assert_eq!(all_base32(&b), b.iter().all(|&c| DECODE[c as usize] != 0xff), "{:?}", b);
        }

        #[test]
        fn a_block_text_is_canonical_as_decoding_says(text in arb_block_text()) {
            prop_assert_eq!(is_canonical_v1_text(&text), decode_v1(&text).is_some(), "{}", text);
            prop_assert_eq!(is_canonical_v1_text(&text), crate_answer(&text).is_some(), "{}", text);
            let mut ours = vec![7u8];
            let layout = v1_text_to_bytes(&text, &mut ours);
            prop_assert_eq!(layout.map(|_| ours[1..].to_vec()), crate_answer(&text), "{}", text);
            if let Some(l) = layout {
                prop_assert_eq!(Some(l), v1_layout(&ours[1..]));
            }
        }

        #[test]
        fn bytes_agree_with_the_cid_crate(codec in arb_varint(), hash in arb_varint(), digest in prop::collection::vec(any::<u8>(), 0..70), lie in 0usize..4, flip in any::<(u16, u8)>()) {
            let mut bytes = vec![1u8];
            bytes.extend(&codec);
            bytes.extend(&hash);
            // Sometimes a length byte that does not match the digest.
            bytes.push((digest.len() + [0, 0, 1, 2][lie]) as u8);
            bytes.extend(&digest);
            let mut text = String::new();
            v1_bytes_to_text(&bytes, &mut text);
            // Our text of the bytes is the crate's, whenever the crate takes them as they are.
            if let Ok(c) = Cid::read_bytes(bytes.as_slice()) {
                if c.to_bytes() == bytes {
                    prop_assert_eq!(&c.to_string(), &text);
                }
            }
            let mut ours = Vec::new();
            let got = v1_text_to_bytes(&text, &mut ours).map(|_| ours.clone());
            prop_assert_eq!(&got, &crate_answer(&text));
            if let Some(b) = &got {
                prop_assert_eq!(b, &bytes);
            }
            // And a damaged spelling of it.
            let mut t = text.into_bytes();
            let i = flip.0 as usize % t.len();
            t[i] = flip.1 % 128;
            if let Ok(t) = String::from_utf8(t) {
                let mut ours = Vec::new();
                prop_assert_eq!(v1_text_to_bytes(&t, &mut ours).map(|_| ours), crate_answer(&t));
            }
        }
    }
}
