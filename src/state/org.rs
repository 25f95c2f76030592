//! The organization: users, invites, projects with their users, service accounts and API keys,
//! and admin API keys, in bounded stores. The organization starts with its owner and its default
//! project. Project API keys made here (a service account's) are real keys to bill: a request
//! presenting one is billed to its key and project in the usage ledger.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use serde_json::{Value, json};

use super::{
    store::{Limits, Object, Store},
    usage::{DEFAULT_PROJECT, Payer},
};

/// The owner's user id.
pub const OWNER: &str = "user-owner";

/// A member of the organization.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// `user-…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// `owner` or `reader`.
    pub role: String,
    /// When added.
    pub added_at: u64,
}

impl Object for User {
    const KIND: &'static str = "User";
    fn id(&self) -> &str {
        &self.id
    }
}

impl User {
    /// OpenAI's `organization.user`.
    pub fn json(&self) -> Value {
        json!({"object": "organization.user", "id": self.id, "name": self.name, "email": self.email,
            "role": self.role, "added_at": self.added_at})
    }
}

/// An invitation to the organization.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Invite {
    /// `invite-…`.
    pub id: String,
    /// Invitee's email.
    pub email: String,
    /// `owner` or `reader`.
    pub role: String,
    /// Projects granted on acceptance: `{id, role}`.
    pub projects: Vec<Value>,
    /// When sent.
    pub created_at: u64,
    /// When it lapses.
    pub expires_at: u64,
}

impl Object for Invite {
    const KIND: &'static str = "Invite";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Invite {
    /// OpenAI's `organization.invite` (pending until it expires; nobody accepts here).
    pub fn json(&self, now: u64) -> Value {
        let status = if now >= self.expires_at { "expired" } else { "pending" };
        json!({"object": "organization.invite", "id": self.id, "email": self.email, "role": self.role,
            "status": status, "projects": self.projects, "created_at": self.created_at,
            "expires_at": self.expires_at, "accepted_at": null})
    }
}

/// A project.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Project {
    /// `proj_…`.
    pub id: String,
    /// Name shown in reports.
    pub name: String,
    /// When created.
    pub created_at: u64,
    /// When archived.
    pub archived_at: Option<u64>,
}

impl Object for Project {
    const KIND: &'static str = "Project";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Project {
    /// OpenAI's `organization.project`.
    pub fn json(&self) -> Value {
        let status = if self.archived_at.is_some() { "archived" } else { "active" };
        json!({"object": "organization.project", "id": self.id, "name": self.name, "created_at": self.created_at,
            "archived_at": self.archived_at, "status": status})
    }
}

/// A user's membership of a project (stored as `project/user`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProjectUser {
    /// `project_id/user_id`.
    pub key: String,
    /// The user.
    pub user: User,
    /// The project.
    pub project_id: String,
    /// `owner` or `member`.
    pub role: String,
    /// When added.
    pub added_at: u64,
}

impl Object for ProjectUser {
    const KIND: &'static str = "ProjectUser";
    fn id(&self) -> &str {
        &self.key
    }
}

impl ProjectUser {
    /// OpenAI's `organization.project.user`.
    pub fn json(&self) -> Value {
        json!({"object": "organization.project.user", "id": self.user.id, "name": self.user.name,
            "email": self.user.email, "role": self.role, "added_at": self.added_at})
    }
}

/// A project's service account.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServiceAccount {
    /// `svc_acct_…`.
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// `owner` or `member`.
    pub role: String,
    /// When created.
    pub created_at: u64,
}

impl Object for ServiceAccount {
    const KIND: &'static str = "ServiceAccount";
    fn id(&self) -> &str {
        &self.id
    }
}

impl ServiceAccount {
    /// OpenAI's `organization.project.service_account`.
    pub fn json(&self) -> Value {
        json!({"object": "organization.project.service_account", "id": self.id, "name": self.name,
            "role": self.role, "created_at": self.created_at})
    }
}

/// Who owns an API key.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Owner {
    /// A user.
    User(User),
    /// A service account.
    ServiceAccount(ServiceAccount),
}

/// An API key: a project's (owned by a service account) or an admin key (owned by a user).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ApiKey {
    /// `key_…`.
    pub id: String,
    /// The secret, shown once.
    pub value: String,
    /// Name.
    pub name: String,
    /// The project, for project keys.
    pub project_id: Option<String>,
    /// Its owner.
    pub owner: Owner,
    /// When created.
    pub created_at: u64,
    /// When it lapses, if ever.
    pub expires_at: Option<u64>,
}

impl Object for ApiKey {
    const KIND: &'static str = "ApiKey";
    fn id(&self) -> &str {
        &self.id
    }
}

impl ApiKey {
    /// The key as listed: `sk-…abcd`.
    pub fn redacted(&self) -> String {
        let tail = &self.value[self.value.len().saturating_sub(4)..];
        format!("{}...{tail}", &self.value[..self.value.len().min(7)])
    }

    /// OpenAI's `organization.project.api_key`.
    pub fn project_json(&self) -> Value {
        let owner = match &self.owner {
            Owner::User(u) => json!({"type": "user", "user": {"id": u.id, "name": u.name, "email": u.email,
                "role": "owner", "created_at": u.added_at}}),
            Owner::ServiceAccount(s) => json!({"type": "service_account", "service_account": {"id": s.id,
                "name": s.name, "role": s.role, "created_at": s.created_at}}),
        };
        json!({"object": "organization.project.api_key", "id": self.id, "name": self.name,
            "redacted_value": self.redacted(), "created_at": self.created_at, "last_used_at": null,
            "expires_at": self.expires_at, "owner": owner, "owner_project_access": "active"})
    }

    /// OpenAI's `organization.admin_api_key` (`value` only when just created).
    pub fn admin_json(&self, with_value: bool) -> Value {
        let owner = match &self.owner {
            Owner::User(u) => json!({"type": "user", "object": "organization.user", "id": u.id, "name": u.name,
                "role": u.role, "created_at": u.added_at}),
            Owner::ServiceAccount(s) => json!({"type": "service_account", "id": s.id, "name": s.name}),
        };
        let mut v = json!({"object": "organization.admin_api_key", "id": self.id, "name": self.name,
            "redacted_value": self.redacted(), "created_at": self.created_at, "last_used_at": null,
            "expires_at": self.expires_at, "owner": owner});
        if with_value {
            v["value"] = json!(self.value);
        }
        v
    }
}

/// Bounds of the organization's stores.
#[derive(Debug, Clone, Copy)]
pub struct OrgLimits {
    /// Objects of each kind (`--max-org-objects`).
    pub per_kind: usize,
}

/// The kinds of key the organization endpoints hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgKey {
    /// An admin API key: organization endpoints only.
    Admin,
    /// A project's or service account's key: inference and other project endpoints.
    Project,
}

/// The organization's stores and the key registry the usage ledger bills by.
#[derive(Debug)]
pub struct Org {
    /// Users.
    pub users: Store<User>,
    /// Invites.
    pub invites: Store<Invite>,
    /// Projects.
    pub projects: Store<Project>,
    /// Project memberships.
    pub project_users: Store<ProjectUser>,
    /// Service accounts.
    pub service_accounts: Store<ServiceAccount>,
    /// Project API keys.
    pub project_keys: Store<ApiKey>,
    /// Admin API keys.
    pub admin_keys: Store<ApiKey>,
    /// Payers by key value.
    payers: RwLock<HashMap<String, Arc<Payer>>>,
}

const FLAG: &str = "--max-org-objects";

impl Org {
    /// The organization as it starts: its owner and its default project, of which the owner is
    /// a member.
    pub fn new(limits: OrgLimits, now: u64) -> Org {
        let store = || Limits::count(limits.per_kind, FLAG);
        let org = Org {
            users: Store::new(store()),
            invites: Store::new(store()),
            projects: Store::new(store()),
            project_users: Store::new(store()),
            service_accounts: Store::new(store()),
            project_keys: Store::new(store()),
            admin_keys: Store::new(store()),
            payers: RwLock::default(),
        };
        let owner = User {
            id: OWNER.into(),
            name: "Owner".into(),
            email: "owner@example.com".into(),
            role: "owner".into(),
            added_at: now,
        };
        let project =
            Project { id: DEFAULT_PROJECT.into(), name: "Default project".into(), created_at: now, archived_at: None };
        let member = ProjectUser {
            key: format!("{DEFAULT_PROJECT}/{OWNER}"),
            user: owner.clone(),
            project_id: DEFAULT_PROJECT.into(),
            role: "owner".into(),
            added_at: now,
        };
        // Fresh stores bounded at 0 refuse these; the organization is then simply empty.
        let _ = org.users.insert(owner, now);
        let _ = org.projects.insert(project, now);
        let _ = org.project_users.insert(member, now);
        org
    }

    /// Who a request presenting `key` is billed to.
    pub fn payer_of(&self, key: Option<&str>) -> Arc<Payer> {
        let known = key.and_then(|k| self.payers.read().unwrap_or_else(|e| e.into_inner()).get(k).cloned());
        known.unwrap_or_else(Payer::anonymous)
    }

    /// What `key` is among the organization's keys at `now` (unix seconds): an admin key not yet
    /// expired, a live project (or service account) key, or neither.
    pub fn key_kind(&self, key: &str, now: u64) -> Option<OrgKey> {
        if self.payers.read().unwrap_or_else(|e| e.into_inner()).contains_key(key) {
            return Some(OrgKey::Project);
        }
        let same = |k: &ApiKey| {
            k.expires_at.is_none_or(|at| at > now) && super::auth::ct_eq(k.value.as_bytes(), key.as_bytes())
        };
        (!self.admin_keys.matching(super::store::UNDATED, same).is_empty()).then_some(OrgKey::Admin)
    }

    /// Bills requests presenting `key` to it and its project.
    pub fn register(&self, key: &ApiKey) {
        let Some(project) = &key.project_id else { return };
        let payer = Payer {
            project_id: project.as_str().into(),
            api_key_id: Some(key.id.as_str().into()),
            user_id: match &key.owner {
                Owner::User(u) => Some(u.id.as_str().into()),
                Owner::ServiceAccount(_) => None,
            },
            batch: false,
        };
        self.payers.write().unwrap_or_else(|e| e.into_inner()).insert(key.value.clone(), Arc::new(payer));
    }

    /// Stops billing by `key` (deleted).
    pub fn unregister(&self, key: &ApiKey) {
        self.payers.write().unwrap_or_else(|e| e.into_inner()).remove(&key.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_key_bills_its_project() {
        let org = Org::new(OrgLimits { per_kind: 10 }, 1);
        assert_eq!(org.projects.len(), 1);
        let sa = ServiceAccount {
            id: "svc_acct_1".into(),
            project_id: "proj_a".into(),
            name: "bot".into(),
            role: "member".into(),
            created_at: 1,
        };
        let key = ApiKey {
            id: "key_1".into(),
            value: "sk-svcacct-secret".into(),
            name: "k".into(),
            project_id: Some("proj_a".into()),
            owner: Owner::ServiceAccount(sa),
            created_at: 1,
            expires_at: None,
        };
        org.register(&key);
        let payer = org.payer_of(Some("sk-svcacct-secret"));
        assert_eq!((&*payer.project_id, payer.api_key_id.as_deref()), ("proj_a", Some("key_1")));
        assert_eq!(org.payer_of(Some("other")), Payer::anonymous());
        assert_eq!(key.redacted(), "sk-svca...cret");
        org.unregister(&key);
        assert_eq!(org.payer_of(Some("sk-svcacct-secret")), Payer::anonymous());
    }
}
