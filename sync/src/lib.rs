//! `lsync-sync`: the sync component (journal writer, Lotus-format log writer, follower).
//! Not built yet; see the open issue "Filecoin chain model" (items 4–6) and "lsync follow".
