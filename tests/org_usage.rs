//! The organization's usage and costs (and its admin objects) driven by the official `openai`
//! SDK's admin client against the real server: a known mix of traffic, streams and a batch
//! included, shows in the usage buckets token for token and in the costs at list prices.

mod common;

use common::Server;

#[test]
fn usage_and_costs_match_the_traffic_exactly() {
    common::sdk_check("org_usage_check.py", "/v1", || Server::start(common::FAST));
}

#[test]
fn organization_admin_crud_and_a_service_account_key_billed_to_its_project() {
    common::sdk_check("org_admin_check.py", "/v1", || Server::start(common::FAST));
}
