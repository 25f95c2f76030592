//! How stored objects are encoded (MessagePack with field names, so a field added later reads
//! old records with its default) and the serde helpers their types need: `&'static str` fields
//! read back interned, byte contents as one binary value instead of a list of numbers.

use std::{
    collections::HashSet,
    fmt,
    sync::{Arc, Mutex},
};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};

/// `value` encoded for the store.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(value).map_err(|e| e.to_string())
}

/// A value [`encode`] wrote.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
}

/// `s` as a `&'static str`: each distinct string is leaked once, so reading a store back costs
/// one allocation per distinct code or role (a handful), not one per object.
pub fn intern(s: &str) -> &'static str {
    static SEEN: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let seen = seen.get_or_insert_with(HashSet::new);
    match seen.get(s) {
        Some(known) => known,
        None => {
            let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
            seen.insert(leaked);
            leaked
        }
    }
}

/// A `&'static str` field read back with [`interned`] (the alias keeps serde from taking the
/// field for a string borrowed from the input).
pub type Interned = &'static str;

/// Reads a `&'static str` field.
pub fn interned<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    String::deserialize(d).map(|s| intern(&s))
}

/// Reads an `Option<&'static str>` field.
pub fn interned_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'static str>, D::Error> {
    Option::<String>::deserialize(d).map(|s| s.map(|s| intern(&s)))
}

/// Reads an `Option<(&'static str, String)>` field.
pub fn interned_pair_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(&'static str, String)>, D::Error> {
    Option::<(String, String)>::deserialize(d).map(|p| p.map(|(a, b)| (intern(&a), b)))
}

/// `Arc<[u8]>` contents as one binary value.
pub mod bytes {
    use super::*;

    /// Writes the bytes as one binary value.
    pub fn serialize<S: Serializer>(bytes: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    /// Reads a binary value (or a list of numbers).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        d.deserialize_byte_buf(Bytes).map(Arc::from)
    }

    struct Bytes;

    impl<'de> serde::de::Visitor<'de> for Bytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "interned")]
        code: Interned,
        #[serde(deserialize_with = "interned_opt")]
        param: Option<Interned>,
        #[serde(with = "bytes")]
        content: Arc<[u8]>,
    }

    #[test]
    fn static_strings_and_bytes_round_trip() {
        let s = Sample { code: "invalid_json", param: Some("body"), content: Arc::from(&b"\x00\xffabc"[..]) };
        let encoded = encode(&s).unwrap();
        assert!(encoded.len() < 60, "bytes are one binary value: {} bytes", encoded.len());
        assert_eq!(decode::<Sample>(&encoded).unwrap(), s);
        assert!(std::ptr::eq(intern("invalid_json"), intern("invalid_json")), "interned once");
    }
}
