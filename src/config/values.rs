//! Setting values written as text: the parsers flags use, and serde deserializers that run the
//! same parsers on what a config file or the environment holds (a string, or a number or
//! boolean as written), so `ttft = 20`, `FAKEAI_TTFT=20` and `--ttft 20` mean one thing.

use std::{fmt, str::FromStr, time::Duration};

use clap::ValueEnum;
use serde::{
    Deserialize, Deserializer,
    de::{self, SeqAccess, Visitor},
};

/// A list of CPU ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// Parses `0,2-3` into CPU ids.
pub fn parse_cpus(s: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("invalid CPU list {s:?}: expected e.g. 0,2-3");
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (usize, usize) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
        if lo > hi {
            return Err(bad());
        }
        cpus.extend(lo..=hi);
    }
    if cpus.is_empty() {
        return Err("empty CPU list".into());
    }
    Ok(CpuList(cpus))
}

/// Parses `4096`, `4KiB`, `64MiB`, `1GB`, `16k`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("invalid size unit in {s:?}")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} too large"))
}

/// Parses `250ms`, `10s`, `5m`, or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("invalid duration {s:?}: expected e.g. 250ms, 10s, 5m");
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// Splits a list setting written as text: a JSON array (FakeAI's form for lists in the
/// environment, `'["a","b"]'`) or comma-separated items; blank items are dropped.
pub fn parse_list(s: &str) -> Result<Vec<String>, String> {
    if s.trim_start().starts_with('[') {
        return serde_json::from_str(s).map_err(|e| format!("invalid JSON list {s:?}: {e}"));
    }
    Ok(s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect())
}

/// A scalar as text: strings as they are, numbers and booleans as written.
struct Text;

impl Visitor<'_> for Text {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// Reads a scalar as text and parses it with `parse`, whose message becomes the error.
fn parse_text<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    parse(&d.deserialize_any(Text)?).map_err(de::Error::custom)
}

/// A [`FromStr`] setting (latency, length distribution, tokenizer).
pub(super) fn parsed<'de, D: Deserializer<'de>, T: FromStr<Err = String>>(d: D) -> Result<T, D::Error> {
    parse_text(d, str::parse)
}

/// An optional [`FromStr`] setting.
pub(super) fn parsed_opt<'de, D: Deserializer<'de>, T: FromStr<Err = String>>(d: D) -> Result<Option<T>, D::Error> {
    parsed(d).map(Some)
}

/// One of a clap value enum's names (the same spellings the flag takes).
pub(super) fn choice<'de, D: Deserializer<'de>, T: ValueEnum>(d: D) -> Result<T, D::Error> {
    parse_text(d, |s| {
        T::from_str(s, true).map_err(|_| {
            let names: Vec<_> = T::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|p| p.get_name().to_owned())
                .collect();
            format!("{s:?} is not one of {}", names.join(", "))
        })
    })
}

/// A byte size, `64MiB` or a number of bytes.
pub(super) fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    parse_text(d, parse_size)
}

/// An optional byte size.
pub(super) fn size_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    size(d).map(Some)
}

/// A duration, `250ms` or a number of seconds.
pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parse_text(d, parse_duration)
}

/// A whole number in `lo..=hi`.
fn ranged<'de, D: Deserializer<'de>>(d: D, lo: u64, hi: u64) -> Result<u64, D::Error> {
    parse_text(d, |s| match s.trim().parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a whole number in {lo}..={hi}")),
    })
}

/// Worker threads: 1 to 1024.
pub(super) fn workers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    ranged(d, 1, 1024).map(|n| Some(n as u16))
}

/// A finite number that is not negative.
pub(super) fn parse_non_negative(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a number >= 0")),
    }
}

/// A share in (0, 1].
pub(super) fn parse_utilisation(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        _ => Err(format!("{s:?} is not a share in (0, 1]")),
    }
}

/// A share in (0, 1], to six decimals (the lossy layers may widen an `f32`).
pub(super) fn utilisation<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    parse_text(d, |s| parse_utilisation(s).map(|x| (x * 1e6).round() / 1e6))
}

/// A count that must be at least 1.
pub(super) fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    ranged(d, 1, u64::MAX)
}

/// A KV-cache block size: 1 to 128 tokens, as FakeAI allows.
pub(super) fn block_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    ranged(d, 1, 128)
}

/// A list: a sequence (a file's array, a repeated flag), whose items are taken whole, or text
/// for [`parse_list`].
pub(super) fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list, a JSON array or comma-separated text")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            parse_list(v).map_err(E::custom)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(Item(item)) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_any(List)
}

/// A list of [`FromStr`] items (fault rules): [`list`]'s forms, each item parsed.
pub(super) fn parsed_list<'de, D: Deserializer<'de>, T: FromStr<Err = String>>(d: D) -> Result<Vec<T>, D::Error> {
    list(d)?.iter().map(|item| item.parse().map_err(de::Error::custom)).collect()
}

/// CPU ids: `0,2-3` or a sequence of ids.
pub(super) fn cpus<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CpuList>, D::Error> {
    struct Cpus;
    impl<'de> Visitor<'de> for Cpus {
        type Value = CpuList;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("CPU ids such as \"0,2-3\" or [0, 2, 3]")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<CpuList, E> {
            parse_cpus(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<CpuList, E> {
            Ok(CpuList(vec![v as usize]))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CpuList, A::Error> {
            let mut out = Vec::new();
            while let Some(Item(item)) = seq.next_element()? {
                out.extend(parse_cpus(&item).map_err(de::Error::custom)?.0);
            }
            if out.is_empty() {
                return Err(de::Error::custom("empty CPU list"));
            }
            Ok(CpuList(out))
        }
    }
    d.deserialize_any(Cpus).map(Some)
}

/// One list item as text.
struct Item(String);

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Text).map(Item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_durations_cpus_lists() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("16k"), Ok(16 << 10));
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_cpus("0,2-3"), Ok(CpuList(vec![0, 2, 3])));
        assert!(parse_cpus("3-1").is_err());
        assert_eq!(parse_list(" a, b ,,c"), Ok(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(parse_list(r#"["a,b", "c"]"#), Ok(vec!["a,b".into(), "c".into()]), "JSON keeps commas");
        assert_eq!(parse_list(""), Ok(vec![]));
        assert!(parse_list("[oops").is_err());
    }
}
