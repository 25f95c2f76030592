//! The startup summary: one line naming what is switched on, so a log shows at a glance how a
//! server was configured.

use super::ServerArgs;

impl ServerArgs {
    /// `engine=off auth=2 keys faults=off persistence=off rate_limits=off workers=2 pinned listen=127.0.0.1:8000`.
    pub fn summary(&self, cores: usize) -> String {
        let workers = self.workers.map_or(cores, usize::from);
        let pinned = if self.pin_workers(workers, cores) { "pinned" } else { "unpinned" };
        format!(
            "engine={} auth={} faults={} persistence={} rate_limits={} workers={workers} {pinned} listen={}:{}",
            self.engine_summary(),
            self.auth_summary(),
            self.fault_summary(),
            self.data_dir.as_ref().map_or("off".into(), |dir| dir.display().to_string()),
            self.rate_limit_summary(),
            self.host,
            self.port
        )
    }

    /// `off`, or the engine with its batch limit: `vllm(max_num_seqs=256)`.
    fn engine_summary(&self) -> String {
        match self.engine {
            super::EngineKind::Off => "off".to_owned(),
            kind => {
                let name = format!("{kind:?}").to_ascii_lowercase();
                format!("{name}(max_num_seqs={})", self.max_num_seqs)
            }
        }
    }

    fn auth_summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.api_key.is_empty() {
            parts.push(format!("{} key(s)", self.api_key.len()));
        }
        if let Some(file) = &self.api_keys_file {
            parts.push(format!("keys file {}", file.display()));
        }
        if !self.admin_key.is_empty() {
            parts.push(format!("{} admin key(s)", self.admin_key.len()));
        }
        match (parts.is_empty(), self.require_api_key) {
            (true, false) => "off".into(),
            (true, true) => "required (no keys: keyed routes answer 401)".into(),
            (false, _) => parts.join(","),
        }
    }

    /// The fault rules, and the scenario that may change them later.
    fn fault_summary(&self) -> String {
        let rules = match self.fault_rules() {
            Ok(rules) if rules.is_empty() => None,
            Ok(rules) => Some(format!("{} rule(s)", rules.len())),
            Err(e) => Some(format!("invalid ({e})")),
        };
        let scenario = self.scenario.as_ref().map(|file| format!("scenario {}", file.display()));
        match [rules, scenario].into_iter().flatten().collect::<Vec<_>>() {
            parts if parts.is_empty() => "off".into(),
            parts => parts.join(","),
        }
    }

    fn rate_limit_summary(&self) -> String {
        let limits = self.rate_limits();
        let dims = [("rpm", limits.rpm), ("tpm", limits.tpm), ("rpd", limits.rpd), ("tpd", limits.tpd)];
        let set: Vec<String> = dims.iter().filter_map(|(name, v)| v.map(|v| format!("{name}:{v}"))).collect();
        if set.is_empty() { "off".into() } else { set.join(",") }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::{Cli, Command, ServerArgs};

    fn args(flags: &[&str]) -> ServerArgs {
        let argv = ["fakeai", "server"].iter().chain(flags).copied();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Server(args) => *args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn names_each_active_feature() {
        let off = args(&["--workers", "2"]).summary(4);
        assert_eq!(
            off,
            "engine=off auth=off faults=off persistence=off rate_limits=off workers=2 pinned listen=127.0.0.1:8000"
        );
        let on =
            args(&["--api-key", "a", "--api-key", "b", "--rate-limit-rpm", "60", "--fault-rate", "429=0.1"]).summary(1);
        assert!(on.contains("auth=2 key(s)"), "{on}");
        assert!(on.contains("rate_limits=rpm:60,tpm:"), "{on}");
        assert!(on.contains("faults=1 rule(s)"), "{on}");
        assert!(on.contains("workers=1 pinned"), "{on}");
        assert!(args(&["--require-api-key", "--no-pin"]).summary(2).contains("auth=required"));
        assert!(args(&["--data-dir", "/var/fakeai"]).summary(2).contains("persistence=/var/fakeai"));
        let scripted = args(&["--scenario", "soak.toml"]).summary(2);
        assert!(scripted.contains("faults=scenario soak.toml"), "a scenario may inject faults later: {scripted}");
    }
}
