"""Drives a fresh fakeai's organization administration with the official `openai` SDK's admin
client: users, invites, projects, project users, service accounts (whose key is then billed in the
usage API), project API keys and admin API keys; every body validated strictly by the SDK's types.

Usage: python org_admin_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import sys
import time

import openai
from checking import check, passed
from openai.types.admin.organization import (
    AdminAPIKey,
    AdminAPIKeyCreateResponse,
    Invite,
    OrganizationUser,
    Project,
)
from openai.types.admin.organization.projects import (
    ProjectAPIKey,
    ProjectServiceAccount,
    ProjectUser,
    ServiceAccountCreateResponse,
)

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", admin_api_key="sk-admin", max_retries=0, timeout=30)
org = client.admin.organization
start = int(time.time())


def strict(model, obj):
    """Validates `obj` (an SDK object) strictly against `model` and returns its JSON."""
    body = obj.model_dump(mode="json", exclude_unset=True)
    model.model_validate(body)
    return body


def raw_list(call, model, *args, **params):
    body = call(*args, **params).http_response.json()
    check(body["object"] == "list" and {"first_id", "last_id", "has_more"} <= body.keys(), f"list shape: {body}")
    for item in body["data"]:
        model.model_validate(item)
    return body


def status_of(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
        return 200
    except openai.APIStatusError as e:
        return e.status_code


# Users: the owner is there from the start.
users = raw_list(org.users.with_raw_response.list, OrganizationUser)
check([u["id"] for u in users["data"]] == ["user-owner"], f"users: {users}")
owner = strict(OrganizationUser, org.users.retrieve("user-owner"))
check(owner["role"] == "owner", "owner role")
check(strict(OrganizationUser, org.users.update("user-owner", role="reader"))["role"] == "reader", "modify role")
check(status_of(org.users.retrieve, "user-nobody") == 404, "unknown user 404")
check(status_of(org.users.delete, "user-owner") == 400, "the owner stays")

# Projects, with pagination.
made = [strict(Project, org.projects.create(name=f"p{i}")) for i in range(3)]
page = raw_list(org.projects.with_raw_response.list, Project, limit=2)
check(len(page["data"]) == 2 and page["has_more"] and page["data"][0]["id"] == "proj_default", f"page 1: {page}")
rest = raw_list(org.projects.with_raw_response.list, Project, limit=2, after=page["last_id"])
check([p["id"] for p in rest["data"]] == [made[1]["id"], made[2]["id"]] and not rest["has_more"], f"page 2: {rest}")
check(len(list(org.projects.list(limit=1))) == 4, "the SDK's auto-pagination walks every project")
pid = made[0]["id"]
check(strict(Project, org.projects.update(pid, name="renamed"))["name"] == "renamed", "rename")
archived = strict(Project, org.projects.archive(made[2]["id"]))
check(archived["status"] == "archived" and archived["archived_at"], f"archive: {archived}")
check(len(org.projects.list().data) == 3 and len(org.projects.list(include_archived=True).data) == 4,
      "archived projects listed only on request")
check(status_of(org.projects.list, after="proj_nope") == 404, "unknown cursor")

# Invites.
inv = strict(Invite, org.invites.create(email="a@example.com", role="reader", projects=[{"id": pid, "role": "member"}]))
check(inv["status"] == "pending" and inv["projects"] == [{"id": pid, "role": "member"}], f"invite: {inv}")
raw_list(org.invites.with_raw_response.list, Invite)
check(strict(Invite, org.invites.retrieve(inv["id"]))["email"] == "a@example.com", "retrieve invite")
check(org.invites.delete(inv["id"]).deleted, "delete invite")
check(status_of(org.invites.create, email="b@example.com", role="boss") == 400, "bad role 400")

# Project users.
pu = strict(ProjectUser, org.projects.users.create(pid, user_id="user-owner", role="member"))
check(pu["id"] == "user-owner" and pu["role"] == "member", f"project user: {pu}")
check(status_of(org.projects.users.create, pid, user_id="user-owner", role="member") == 400, "no member twice")
raw_list(org.projects.users.with_raw_response.list, ProjectUser, pid)
check(strict(ProjectUser, org.projects.users.update("user-owner", project_id=pid, role="owner"))["role"] == "owner",
      "modify project user")
check(org.projects.users.delete("user-owner", project_id=pid).deleted, "remove project user")
check(status_of(org.projects.users.retrieve, "user-owner", project_id=pid) == 404, "removed")

# Service accounts: the key is shown once, then listed redacted, and billed to its project.
sa = org.projects.service_accounts.create(pid, name="bot")
body = strict(ServiceAccountCreateResponse, sa)
secret = sa.api_key.value
check(body["role"] == "member" and secret.startswith("sk-"), f"service account: {body}")
raw_list(org.projects.service_accounts.with_raw_response.list, ProjectServiceAccount, pid)
strict(ProjectServiceAccount, org.projects.service_accounts.retrieve(sa.id, project_id=pid))
keys = raw_list(org.projects.api_keys.with_raw_response.list, ProjectAPIKey, pid)
key = keys["data"][0]
check(key["id"] == sa.api_key.id and secret not in str(keys) and key["owner"]["type"] == "service_account",
      f"project key: {keys}")
strict(ProjectAPIKey, org.projects.api_keys.retrieve(key["id"], project_id=pid))
bot = openai.OpenAI(base_url=base_url, api_key=secret, max_retries=0)
r = bot.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=3)
rows = org.usage.completions(start_time=start, group_by=["project_id", "api_key_id"]).data[0].results
mine = [x for x in rows if x.api_key_id == key["id"]]
check(len(mine) == 1 and mine[0].project_id == pid and mine[0].input_tokens == r.usage.prompt_tokens,
      f"the key's usage is billed to its project: {rows}")
check(org.projects.api_keys.delete(key["id"], project_id=pid).deleted, "delete project key")
check(org.projects.service_accounts.delete(sa.id, project_id=pid).deleted, "delete service account")

# Admin API keys.
ak = org.admin_api_keys.create(name="ops")
created = strict(AdminAPIKeyCreateResponse, ak)
check(created["value"].startswith("sk-admin-"), f"admin key: {created}")
listed = org.admin_api_keys.list()
check([k.id for k in listed.data] == [ak.id] and "value" not in listed.data[0].model_dump(exclude_unset=True),
      "admin keys list without the secret")
strict(AdminAPIKey, org.admin_api_keys.retrieve(ak.id))
check(org.admin_api_keys.delete(ak.id).deleted, "delete admin key")
check(status_of(org.admin_api_keys.retrieve, ak.id) == 404, "deleted admin key 404")

passed("org admin: ")
