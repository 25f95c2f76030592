//! OpenAI's organization administration: users, invites, projects (archive), project users,
//! project service accounts (created with an API key shown once), project API keys and admin
//! API keys, with OpenAI's list shapes (`limit` 1..100, `after`, oldest first).

use serde_json::{Value, json};

use super::{
    Ctx, Full, Outcome, Request,
    common::{self, ListSpec, new_id, no_such},
};
use crate::{
    app::App,
    error::Error,
    router::Route,
    state::{
        org::{ApiKey, Invite, OWNER, Owner, Project, ProjectUser, ServiceAccount},
        store::{Object, Order, Store},
    },
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::get("/v1/organization/users", list_users),
    Route::get("/v1/organization/users/{user_id}", get_user),
    Route::post("/v1/organization/users/{user_id}", modify_user),
    Route::delete("/v1/organization/users/{user_id}", delete_user),
    Route::post("/v1/organization/invites", create_invite),
    Route::get("/v1/organization/invites", list_invites),
    Route::get("/v1/organization/invites/{invite_id}", get_invite),
    Route::delete("/v1/organization/invites/{invite_id}", delete_invite),
    Route::post("/v1/organization/projects", create_project),
    Route::get("/v1/organization/projects", list_projects),
    Route::get("/v1/organization/projects/{project_id}", get_project),
    Route::post("/v1/organization/projects/{project_id}", modify_project),
    Route::post("/v1/organization/projects/{project_id}/archive", archive_project),
    Route::post("/v1/organization/projects/{project_id}/users", add_project_user),
    Route::get("/v1/organization/projects/{project_id}/users", list_project_users),
    Route::get("/v1/organization/projects/{project_id}/users/{user_id}", get_project_user),
    Route::post("/v1/organization/projects/{project_id}/users/{user_id}", modify_project_user),
    Route::delete("/v1/organization/projects/{project_id}/users/{user_id}", delete_project_user),
    Route::post("/v1/organization/projects/{project_id}/service_accounts", create_service_account),
    Route::get("/v1/organization/projects/{project_id}/service_accounts", list_service_accounts),
    Route::get("/v1/organization/projects/{project_id}/service_accounts/{service_account_id}", get_service_account),
    Route::delete(
        "/v1/organization/projects/{project_id}/service_accounts/{service_account_id}",
        delete_service_account,
    ),
    Route::get("/v1/organization/projects/{project_id}/api_keys", list_project_keys),
    Route::get("/v1/organization/projects/{project_id}/api_keys/{key_id}", get_project_key),
    Route::delete("/v1/organization/projects/{project_id}/api_keys/{key_id}", delete_project_key),
    Route::post("/v1/organization/admin_api_keys", create_admin_key),
    Route::get("/v1/organization/admin_api_keys", list_admin_keys),
    Route::get("/v1/organization/admin_api_keys/{key_id}", get_admin_key),
    Route::delete("/v1/organization/admin_api_keys/{key_id}", delete_admin_key),
];

/// OpenAI's organization lists: `limit` 1..100 (20), `after`, oldest first.
const ORG_LIST: ListSpec = ListSpec::after_only(Order::Asc);

/// How long an invite stays pending.
const INVITE_LIFETIME: u64 = 7 * 86_400;

fn ok(v: Value) -> Outcome {
    Ok(Full::value(&v).into())
}

fn deleted(object: &str, id: &str) -> Outcome {
    ok(json!({"object": object, "id": id, "deleted": true}))
}

fn body(req: &Request<'_>) -> Result<Value, Error> {
    if req.body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(req.body).map_err(|e| Error::bad_request(format!("The body is not valid JSON: {e}")))
}

/// The string field `name` of `v`, required.
fn text(v: &Value, name: &str) -> Result<String, Error> {
    match &v[name] {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Null => Err(common::missing(name)),
        _ => Err(Error::invalid_param(name, format!("Invalid '{name}': expected a non-empty string."))
            .with_code("invalid_type")),
    }
}

/// `role` of `v`, one of `allowed`.
fn role_in(v: &Value, allowed: &[&str]) -> Result<String, Error> {
    let role = text(v, "role")?;
    if allowed.contains(&role.as_str()) {
        return Ok(role);
    }
    let message = format!("Invalid 'role': '{role}'. Supported values are: {}.", allowed.join(", "));
    Err(Error::invalid_param("role", message).with_code("invalid_value"))
}

fn list<T: Object + 'static>(
    store: &Store<T>,
    req: &Request<'_>,
    now: u64,
    keep: impl Fn(&T) -> bool,
    json: impl Fn(&T) -> Value,
) -> Outcome {
    let page = store.page(&common::page_query(req, ORG_LIST)?, now, keep)?;
    Ok(common::list_reply(&page, json).into())
}

fn found<T>(found: Option<T>, kind: &str, id: &str) -> Result<T, Error> {
    found.ok_or_else(|| no_such(kind, id))
}

// Users.

fn list_users(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let emails: Vec<String> = crate::proto::query::pairs(req.head.query())
        .filter(|(k, _)| k == "emails" || k == "emails[]")
        .map(|(_, v)| v.into_owned())
        .collect();
    let keep = |u: &crate::state::org::User| emails.is_empty() || emails.contains(&u.email);
    list(&app.state.org.users, req, ctx.unix_now.0, keep, |u| u.json())
}

fn get_user(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("user_id");
    ok(found(app.state.org.users.get(id, ctx.unix_now.0), "user", id)?.json())
}

fn modify_user(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("user_id");
    let role = role_in(&body(req)?, &["owner", "reader"])?;
    let (user, ()) = found(app.state.org.users.update(id, |u| u.role = role)?, "user", id)?;
    ok(user.json())
}

fn delete_user(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("user_id");
    if id == OWNER {
        return Err(Error::bad_request("The organization's owner cannot be removed.").with_code("invalid_value"));
    }
    found(app.state.org.users.remove(id)?, "user", id)?;
    let memberships = app.state.org.project_users.matching(0, |m| m.user.id == id);
    for m in memberships {
        app.state.org.project_users.remove(&m.key)?;
    }
    deleted("organization.user.deleted", id)
}

// Invites.

fn create_invite(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let v = body(req)?;
    let email = text(&v, "email")?;
    let role = role_in(&v, &["owner", "reader"])?;
    let projects = match &v["projects"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|p| {
                let id = text(p, "id")?;
                found(app.state.org.projects.get(&id, ctx.unix_now.0), "project", &id)?;
                Ok(json!({"id": id, "role": role_in(p, &["member", "owner"])?}))
            })
            .collect::<Result<_, Error>>()?,
        _ => return Err(Error::invalid_param("projects", "Invalid 'projects': expected an array.")),
    };
    let now = ctx.unix_now.0;
    let invite = Invite {
        id: new_id(ctx.rng, "invite-", 24),
        email,
        role,
        projects,
        created_at: now,
        expires_at: now + INVITE_LIFETIME,
    };
    app.state.org.invites.insert(invite.clone(), now)?;
    ok(invite.json(now))
}

fn list_invites(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let now = ctx.unix_now.0;
    list(&app.state.org.invites, req, now, |_| true, |i| i.json(now))
}

fn get_invite(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("invite_id");
    ok(found(app.state.org.invites.get(id, ctx.unix_now.0), "invite", id)?.json(ctx.unix_now.0))
}

fn delete_invite(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("invite_id");
    found(app.state.org.invites.remove(id)?, "invite", id)?;
    deleted("organization.invite.deleted", id)
}

// Projects.

fn create_project(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let name = text(&body(req)?, "name")?;
    let now = ctx.unix_now.0;
    let project = Project { id: new_id(ctx.rng, "proj_", 24), name, created_at: now, archived_at: None };
    app.state.org.projects.insert(project.clone(), now)?;
    ok(project.json())
}

fn list_projects(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let archived = req.query("include_archived").as_deref() == Some("true");
    list(&app.state.org.projects, req, ctx.unix_now.0, |p| archived || p.archived_at.is_none(), Project::json)
}

fn get_project(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    ok(project(app, ctx, req)?.json())
}

/// The project the path names.
fn project(app: &App, ctx: &Ctx<'_>, req: &Request<'_>) -> Result<Project, Error> {
    let id = req.param("project_id");
    found(app.state.org.projects.get(id, ctx.unix_now.0), "project", id)
}

/// The project the path names, refusing changes once it is archived.
fn active_project(app: &App, ctx: &Ctx<'_>, req: &Request<'_>) -> Result<Project, Error> {
    let p = project(app, ctx, req)?;
    match p.archived_at {
        Some(_) => Err(Error::bad_request(format!("Project {} is archived.", p.id)).with_code("project_archived")),
        None => Ok(p),
    }
}

fn modify_project(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = active_project(app, ctx, req)?.id;
    let name = text(&body(req)?, "name")?;
    let (p, ()) = found(app.state.org.projects.update(&id, |p| p.name = name)?, "project", &id)?;
    ok(p.json())
}

fn archive_project(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = project(app, ctx, req)?.id;
    if id == crate::state::usage::DEFAULT_PROJECT {
        return Err(Error::bad_request("The default project cannot be archived.").with_code("invalid_value"));
    }
    let now = ctx.unix_now.0;
    let (p, ()) = found(app.state.org.projects.update(&id, |p| _ = p.archived_at.get_or_insert(now))?, "project", &id)?;
    ok(p.json())
}

// Project users.

fn membership_key(project: &str, user: &str) -> String {
    format!("{project}/{user}")
}

fn add_project_user(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let project = active_project(app, ctx, req)?;
    let v = body(req)?;
    let role = role_in(&v, &["owner", "member"])?;
    let user_id = text(&v, "user_id")?;
    let user = found(app.state.org.users.get(&user_id, ctx.unix_now.0), "user", &user_id)?;
    let key = membership_key(&project.id, &user.id);
    if app.state.org.project_users.get(&key, ctx.unix_now.0).is_some() {
        let message = format!("User {user_id} is already a member of project {}.", project.id);
        return Err(Error::bad_request(message).with_code("user_already_in_project"));
    }
    let member = ProjectUser { key, user, project_id: project.id, role, added_at: ctx.unix_now.0 };
    app.state.org.project_users.insert(member.clone(), ctx.unix_now.0)?;
    ok(member.json())
}

fn list_project_users(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = project(app, ctx, req)?.id;
    let mut query = common::page_query(req, ORG_LIST)?;
    // The cursor is a user id; memberships are stored by project and user.
    query.after = query.after.map(|user| membership_key(&id, &user));
    let page = app.state.org.project_users.page(&query, ctx.unix_now.0, |m| m.project_id == id)?;
    Ok(common::list_reply(&page, ProjectUser::json).into())
}

fn member(app: &App, ctx: &Ctx<'_>, req: &Request<'_>) -> Result<ProjectUser, Error> {
    let (project, user) = (project(app, ctx, req)?.id, req.param("user_id"));
    found(app.state.org.project_users.get(&membership_key(&project, user), ctx.unix_now.0), "user", user)
}

fn get_project_user(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    ok(member(app, ctx, req)?.json())
}

fn modify_project_user(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let m = member(app, ctx, req)?;
    let role = role_in(&body(req)?, &["owner", "member"])?;
    let (m, ()) = found(app.state.org.project_users.update(&m.key, |m| m.role = role)?, "user", &m.user.id)?;
    ok(m.json())
}

fn delete_project_user(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let m = member(app, ctx, req)?;
    app.state.org.project_users.remove(&m.key)?;
    deleted("organization.project.user.deleted", &m.user.id)
}

// Service accounts and project API keys.

fn create_service_account(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let project = active_project(app, ctx, req)?;
    let v = body(req)?;
    let name = text(&v, "name")?;
    let only = v["create_service_account_only"] == true;
    let now = ctx.unix_now.0;
    let account = ServiceAccount {
        id: new_id(ctx.rng, "svc_acct_", 24),
        project_id: project.id.clone(),
        name,
        role: if only { "none" } else { "member" }.into(),
        created_at: now,
    };
    app.state.org.service_accounts.insert(account.clone(), now)?;
    let mut reply = account.json();
    reply["api_key"] = Value::Null;
    if !only {
        let expires_at = v["expires_in_seconds"].as_u64().map(|s| now + s);
        let key = ApiKey {
            id: new_id(ctx.rng, "key_", 16),
            value: new_id(ctx.rng, "sk-svcacct-", 48),
            name: "Secret Key".into(),
            project_id: Some(project.id),
            owner: Owner::ServiceAccount(account),
            created_at: now,
            expires_at,
        };
        app.state.org.project_keys.insert(key.clone(), now)?;
        app.state.org.register(&key);
        reply["api_key"] = json!({"object": "organization.project.service_account.api_key", "id": key.id,
            "name": key.name, "value": key.value, "created_at": now, "expires_at": expires_at});
    }
    ok(reply)
}

fn list_service_accounts(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = project(app, ctx, req)?.id;
    list(&app.state.org.service_accounts, req, ctx.unix_now.0, |s| s.project_id == id, ServiceAccount::json)
}

fn service_account(app: &App, ctx: &Ctx<'_>, req: &Request<'_>) -> Result<ServiceAccount, Error> {
    let (project, id) = (project(app, ctx, req)?.id, req.param("service_account_id"));
    let account = app.state.org.service_accounts.get(id, ctx.unix_now.0).filter(|s| s.project_id == project);
    found(account, "service account", id)
}

fn get_service_account(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    ok(service_account(app, ctx, req)?.json())
}

fn delete_service_account(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let account = service_account(app, ctx, req)?;
    app.state.org.service_accounts.remove(&account.id)?;
    let owned = |k: &ApiKey| matches!(&k.owner, Owner::ServiceAccount(s) if s.id == account.id);
    for key in app.state.org.project_keys.matching(0, owned) {
        app.state.org.project_keys.remove(&key.id)?;
        app.state.org.unregister(&key);
    }
    deleted("organization.project.service_account.deleted", &account.id)
}

fn list_project_keys(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = project(app, ctx, req)?.id;
    let keep = |k: &ApiKey| k.project_id.as_deref() == Some(id.as_str());
    list(&app.state.org.project_keys, req, ctx.unix_now.0, keep, ApiKey::project_json)
}

fn project_key(app: &App, ctx: &Ctx<'_>, req: &Request<'_>) -> Result<ApiKey, Error> {
    let (project, id) = (project(app, ctx, req)?.id, req.param("key_id"));
    let key = app.state.org.project_keys.get(id, ctx.unix_now.0).filter(|k| k.project_id.as_ref() == Some(&project));
    found(key, "API key", id)
}

fn get_project_key(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    ok(project_key(app, ctx, req)?.project_json())
}

fn delete_project_key(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let key = project_key(app, ctx, req)?;
    app.state.org.project_keys.remove(&key.id)?;
    app.state.org.unregister(&key);
    deleted("organization.project.api_key.deleted", &key.id)
}

// Admin API keys.

fn create_admin_key(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let v = body(req)?;
    let name = text(&v, "name")?;
    let now = ctx.unix_now.0;
    let owner = found(app.state.org.users.get(OWNER, now), "user", OWNER)?;
    let key = ApiKey {
        id: new_id(ctx.rng, "key_", 16),
        value: new_id(ctx.rng, "sk-admin-", 48),
        name,
        project_id: None,
        owner: Owner::User(owner),
        created_at: now,
        expires_at: v["expires_in_seconds"].as_u64().map(|s| now + s),
    };
    app.state.org.admin_keys.insert(key.clone(), now)?;
    ok(key.admin_json(true))
}

fn list_admin_keys(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    list(&app.state.org.admin_keys, req, ctx.unix_now.0, |_| true, |k| k.admin_json(false))
}

fn get_admin_key(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("key_id");
    ok(found(app.state.org.admin_keys.get(id, ctx.unix_now.0), "admin API key", id)?.admin_json(false))
}

fn delete_admin_key(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("key_id");
    found(app.state.org.admin_keys.remove(id)?, "admin API key", id)?;
    deleted("organization.admin_api_key.deleted", id)
}
