//! API keys: who may call the keyed routes, and each key's rate limits and counts.
//!
//! Keys come from the flags, the environment, a config file and a keys file (one per line,
//! `#` comments), which is read again after SIGHUP. Only SHA-1 digests of keys are kept for
//! lookup: a presented key is hashed, found by digest and compared in constant time, so timing
//! tells an attacker nothing about a key's bytes. A key is named in metrics by its id, the
//! first 8 hex digits of its digest. Each core reads the key set through its own cached
//! `Arc`, refreshed only when the set changes: admission takes no lock.

use std::{
    cell::RefCell,
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use super::ratelimit::{Limiter, Limits};

/// A key's SHA-1 digest.
type Digest = [u8; 20];

/// The id of requests made without a key (auth off).
pub const ANONYMOUS: &str = "anonymous";

/// One key (or the anonymous caller): its id, limits and counts.
#[derive(Debug)]
pub struct KeyEntry {
    /// Short hash naming the key in metrics and logs.
    pub id: String,
    digest: Digest,
    /// Its rate limits.
    pub limiter: Limiter,
    /// Requests admitted.
    pub admitted: AtomicU64,
    /// Requests refused with 429.
    pub throttled: AtomicU64,
}

impl KeyEntry {
    fn new(id: String, digest: Digest, limits: Limits) -> KeyEntry {
        KeyEntry {
            id,
            digest,
            limiter: Limiter::new(limits),
            admitted: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }
}

/// One version of the key set.
#[derive(Debug, Default)]
pub struct Keys {
    by_digest: HashMap<Digest, Arc<KeyEntry>>,
    /// Every key, in configuration order.
    pub list: Vec<Arc<KeyEntry>>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No key was sent.
    Missing,
    /// The key is not known.
    Invalid,
}

/// The server's API keys and limits.
#[derive(Debug)]
pub struct Auth {
    /// Whether keyed routes need a key.
    pub required: bool,
    /// The limits every key has (changed at runtime by [`Auth::set_limits`]); only its
    /// limits are used, never its state.
    limits: Limiter,
    fixed: Vec<String>,
    file: Option<PathBuf>,
    current: Mutex<Arc<Keys>>,
    /// The key set's version, new on every change.
    generation: AtomicU64,
    /// The hangup count last acted on.
    hangups: AtomicU64,
    /// Requests without a key when auth is off.
    pub anonymous: Arc<KeyEntry>,
    /// Requests refused for a missing key.
    pub missing: AtomicU64,
    /// Requests refused for an unknown key.
    pub invalid: AtomicU64,
    /// Time zero of the limiters.
    epoch: Instant,
    /// The entries of keys the organization endpoints made (admin, project and service account
    /// keys), by digest, each made on the key's first use.
    org_entries: Mutex<HashMap<Digest, Arc<KeyEntry>>>,
}

/// Key-set versions, unique across every `Auth` in the process, so a core's cached view can
/// never be mistaken for another instance's.
static VERSIONS: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This core's view of the key set: (auth instance, generation, keys).
    static VIEW: RefCell<Option<(usize, u64, Arc<Keys>)>> = const { RefCell::new(None) };
}

impl Auth {
    /// Keys `fixed` (flags, environment, config file) plus those in `file`; keys are required
    /// when `require` is set or any key source is given. An unreadable file is reported and
    /// contributes no keys (requests are refused rather than let through).
    pub fn new(fixed: Vec<String>, file: Option<PathBuf>, require: bool, limits: Limits) -> Auth {
        let required = require || !fixed.is_empty() || file.is_some();
        let anonymous = Arc::new(KeyEntry::new(ANONYMOUS.into(), [0; 20], limits));
        let auth = Auth {
            required,
            limits: Limiter::new(limits),
            fixed,
            file,
            current: Mutex::new(Arc::default()),
            generation: AtomicU64::new(0),
            hangups: AtomicU64::new(0),
            anonymous,
            missing: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            epoch: Instant::now(),
            org_entries: Mutex::default(),
        };
        auth.reload();
        auth
    }

    /// Whether admission has anything to do.
    pub fn active(&self) -> bool {
        self.required || self.limits().any()
    }

    /// The limits of each key.
    pub fn limits(&self) -> Limits {
        self.limits.limits()
    }

    /// Gives every key (and the anonymous caller) `limits` for requests admitted from now on;
    /// what each has used so far stays used (see [`super::ratelimit::Gcra`]).
    pub fn set_limits(&self, limits: Limits) {
        let now = self.now();
        self.limits.set(limits, now);
        // Under the key-set lock, so a concurrent reload either sees the new limits or is
        // followed by this update.
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        for entry in current.list.iter().chain([&self.anonymous]) {
            entry.limiter.set(limits, now);
        }
        drop(current);
        for entry in self.org_entries.lock().unwrap_or_else(|e| e.into_inner()).values() {
            entry.limiter.set(limits, now);
        }
    }

    /// Nanoseconds since the limiters' time zero.
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Re-reads the keys file once per new `hangups` count (SIGHUPs received).
    pub fn on_hangups(&self, hangups: u64) {
        let seen = self.hangups.load(Ordering::Relaxed);
        if seen != hangups && self.hangups.compare_exchange(seen, hangups, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            self.reload();
        }
    }

    /// Rebuilds the key set from the fixed keys and the file; a key already known keeps its
    /// limiter and counts.
    pub fn reload(&self) {
        // A fixed "key" naming a file is a keys file (FakeAI's `--api-key PATH`).
        let (named, mut texts): (Vec<String>, Vec<String>) =
            self.fixed.iter().cloned().partition(|k| std::path::Path::new(k).is_file());
        let files = self.file.iter().cloned().chain(named.into_iter().map(PathBuf::from));
        for path in files {
            match std::fs::read_to_string(&path) {
                Ok(text) => texts.extend(parse_keys_file(&text)),
                Err(e) => eprintln!("fakeai: cannot read API keys file {}: {e}", path.display()),
            }
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys = Keys::default();
        for text in texts {
            let digest = sha1(&text);
            if keys.by_digest.contains_key(&digest) {
                continue;
            }
            let entry = current.by_digest.get(&digest).cloned().unwrap_or_else(|| {
                let id = hex(&digest[..4]);
                Arc::new(KeyEntry::new(id, digest, self.limits()))
            });
            keys.by_digest.insert(digest, entry.clone());
            keys.list.push(entry);
        }
        if self.file.is_some() {
            eprintln!("fakeai: {} API keys loaded", keys.list.len());
        }
        *current = Arc::new(keys);
        self.generation.store(VERSIONS.fetch_add(1, Ordering::Relaxed), Ordering::Release);
    }

    /// The current key set, through this core's cached view.
    pub fn keys(&self) -> Arc<Keys> {
        let me = self as *const Auth as usize;
        let generation = self.generation.load(Ordering::Acquire);
        VIEW.with_borrow_mut(|view| match view {
            Some((who, g, keys)) if *who == me && *g == generation => keys.clone(),
            _ => {
                let keys = self.current.lock().unwrap_or_else(|e| e.into_inner()).clone();
                *view = Some((me, generation, keys.clone()));
                keys
            }
        })
    }

    /// The caller of a keyed route presenting `key`: its entry, or why it is refused.
    pub fn identify(&self, key: Option<&str>) -> Result<Arc<KeyEntry>, Denied> {
        if !self.required {
            return Ok(self.anonymous.clone());
        }
        let key = key.filter(|k| !k.is_empty()).ok_or(Denied::Missing)?;
        let digest = sha1(key);
        let keys = self.keys();
        match keys.by_digest.get(&digest) {
            Some(entry) if ct_eq(&entry.digest, &digest) => Ok(entry.clone()),
            _ => Err(Denied::Invalid),
        }
    }

    /// The entry (limits and counts) of `key`, one the organization endpoints made: its own,
    /// made on first use (a lock, taken only for such keys).
    pub fn org_entry(&self, key: &str) -> Arc<KeyEntry> {
        let digest = sha1(key);
        let mut entries = self.org_entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry =
            entries.entry(digest).or_insert_with(|| Arc::new(KeyEntry::new(hex(&digest[..4]), digest, self.limits())));
        entry.clone()
    }
}

/// The keys in a keys file: one per line, blank lines and `#` comments skipped.
pub fn parse_keys_file(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).map(str::to_owned)
}

/// The key a request presents: `Authorization` (with or without `Bearer `), else `x-api-key`
/// (Anthropic), else `api-key` (Azure).
pub fn presented<'a>(
    authorization: Option<&'a str>,
    x_api_key: Option<&'a str>,
    api_key: Option<&'a str>,
) -> Option<&'a str> {
    let bearer = authorization.map(|a| {
        let a = a.trim();
        match a.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("bearer ") => a[7..].trim(),
            _ => a,
        }
    });
    bearer.or(x_api_key).or(api_key).map(str::trim)
}

/// Equality of two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn sha1(text: &str) -> Digest {
    sha1_smol::Sha1::from(text.as_bytes()).digest().bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"sk-abc", b"sk-abc"));
        assert!(!ct_eq(b"sk-abc", b"sk-abd"));
        assert!(!ct_eq(b"sk-abc", b"sk-ab"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn headers_in_three_styles() {
        assert_eq!(presented(Some("Bearer sk-1"), None, None), Some("sk-1"));
        assert_eq!(presented(Some("bearer  sk-1 "), None, None), Some("sk-1"));
        assert_eq!(presented(Some("sk-raw"), None, None), Some("sk-raw"), "FakeAI: Bearer is optional");
        assert_eq!(presented(None, Some("sk-ant"), None), Some("sk-ant"));
        assert_eq!(presented(None, None, Some("azure")), Some("azure"));
        assert_eq!(presented(None, None, None), None);
    }

    #[test]
    fn keys_are_found_by_digest_and_named_by_short_hash() {
        let auth = Auth::new(vec!["sk-one".into(), "sk-two".into()], None, false, Limits::default());
        assert!(auth.required, "any key turns auth on");
        let one = auth.identify(Some("sk-one")).unwrap();
        assert_eq!(one.id.len(), 8);
        assert!(!one.id.contains("one"));
        assert_eq!(auth.identify(Some("sk-three")).unwrap_err(), Denied::Invalid);
        assert_eq!(auth.identify(None).unwrap_err(), Denied::Missing);
        assert_eq!(auth.identify(Some("")).unwrap_err(), Denied::Missing);
        let open = Auth::new(vec![], None, false, Limits::default());
        assert_eq!(open.identify(None).unwrap().id, ANONYMOUS);
    }

    #[test]
    fn keys_file_reload_keeps_known_keys_state() {
        let path = std::env::temp_dir().join(format!("fakeai-keys-{}", std::process::id()));
        std::fs::write(&path, "# team keys\nsk-a\n\n  sk-b  # old\n").unwrap();
        let auth = Auth::new(vec![], Some(path.clone()), false, Limits::default());
        let a = auth.identify(Some("sk-a")).unwrap();
        a.admitted.fetch_add(3, Ordering::Relaxed);
        assert!(auth.identify(Some("sk-b")).is_ok());
        std::fs::write(&path, "sk-a\nsk-c\n").unwrap();
        auth.on_hangups(1);
        assert_eq!(auth.identify(Some("sk-b")).unwrap_err(), Denied::Invalid, "removed");
        assert!(auth.identify(Some("sk-c")).is_ok(), "added");
        assert_eq!(auth.identify(Some("sk-a")).unwrap().admitted.load(Ordering::Relaxed), 3, "kept");
        auth.on_hangups(1);
        let named = Auth::new(vec![path.to_string_lossy().into_owned(), "sk-d".into()], None, false, Limits::default());
        assert!(
            named.identify(Some("sk-c")).is_ok() && named.identify(Some("sk-d")).is_ok(),
            "FakeAI's --api-key FILE"
        );
        assert!(named.identify(Some(path.to_str().unwrap())).is_err());
        std::fs::remove_file(path).unwrap();
    }
}
