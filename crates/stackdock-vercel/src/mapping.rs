//! From Vercel payloads to StackDock resources, and DNS record data both ways.

use std::net::{Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;
use stackdock_core::dns::RecordData;
use stackdock_core::resource::{
    Deployment, DnsRecord, Domain, ResourceMeta, VerificationRecord, WebService,
};
use stackdock_core::secret::{is_secret_field, SecretString};
use stackdock_core::{Error, ResourceKind, ResourceStatus, Result};

use crate::model::{
    ApiAccountDomain, ApiDeployment, ApiEnv, ApiProject, ApiProjectDomain, ApiRecord, HttpsBody,
    OneOrMany, RecordBody, SrvBody,
};
use crate::types::{EnvTarget, EnvType, EnvVar, ReadyState};

/// Provider id of this crate's adapter.
pub const PROVIDER_ID: &str = "vercel";

/// Vercel's default (and minimum) DNS TTL.
pub const DEFAULT_TTL: u32 = 60;

/// Env var fields that carry the value (or whether it was decrypted); removed
/// from every payload before it is kept.
const ENV_SECRET_FIELDS: &[&str] = &["value", "decrypted", "vsmValue"];

pub(crate) fn time_ms(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

fn view<'a, T: Deserialize<'a>>(what: &str, value: &'a Value) -> Result<T> {
    T::deserialize(value)
        .map_err(|e| Error::invalid_response(format!("unexpected {what} object from Vercel: {e}")))
}

/// Remove secrets from a payload before it is kept: env var values (and
/// whether they were decrypted) wherever an env var object appears — projects
/// embed `env[]` — and every field core's rule calls secret. One pass.
pub(crate) fn scrub(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("key") && map.contains_key("target") {
                for f in ENV_SECRET_FIELDS {
                    map.remove(*f);
                }
            }
            map.retain(|k, _| !is_secret_field(k));
            for v in map.values_mut() {
                scrub(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

fn meta(
    dock_id: &str,
    kind: ResourceKind,
    id: &str,
    name: &str,
    status: ResourceStatus,
    raw: Value,
) -> ResourceMeta {
    let mut meta = ResourceMeta::new(PROVIDER_ID, dock_id, kind, id, name).with_status(status);
    meta.set_provider_data(raw, scrub);
    meta
}

/// A project as a web service.
pub(crate) fn project(dock_id: &str, raw: Value) -> Result<WebService> {
    let p: ApiProject = view("project", &raw)?;
    let urls: Vec<String> = p
        .targets
        .as_ref()
        .and_then(|t| t.get("production"))
        .and_then(|prod| prod.get("alias"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|h| format!("https://{h}"))
                .collect()
        })
        .unwrap_or_default();
    let mut meta = meta(
        dock_id,
        ResourceKind::WebService,
        &p.id,
        &p.name,
        ResourceStatus::Active,
        Value::Null,
    );
    meta.created_at = time_ms(p.created_at);
    meta.updated_at = time_ms(p.updated_at);
    let region = p.region().map(str::to_owned);
    let service = WebService {
        url: urls.first().cloned(),
        urls,
        server_id: None,
        framework: p.framework,
        runtime: p.node_version,
        repository: p.link.as_ref().and_then(|l| l.repository()),
        region,
        environment: None,
        meta,
    };
    Ok(with_raw(service, raw))
}

fn with_raw(mut service: WebService, raw: Value) -> WebService {
    service.meta.set_provider_data(raw, scrub);
    service
}

/// Move the `latestDeployments` out of a project object and map them
/// (the inventory keeps them once, as deployments, not twice).
pub(crate) fn take_latest_deployments(
    dock_id: &str,
    project_raw: &mut Value,
) -> Result<Vec<Deployment>> {
    let project_id = project_raw
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(Value::Array(items)) = project_raw
        .as_object_mut()
        .and_then(|o| o.remove("latestDeployments"))
    else {
        return Ok(Vec::new());
    };
    items
        .into_iter()
        .map(|d| deployment(dock_id, d, project_id.as_deref()))
        .collect()
}

fn meta_str<'a>(d: &'a ApiDeployment, keys: &[&str]) -> Option<&'a str> {
    let meta = d.meta.as_ref()?;
    keys.iter()
        .find_map(|k| meta.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// A deployment. `project_id` fills in for payloads that omit it.
pub(crate) fn deployment(
    dock_id: &str,
    raw: Value,
    project_id: Option<&str>,
) -> Result<Deployment> {
    let d: ApiDeployment = view("deployment", &raw)?;
    let id =
        d.id.clone()
            .or_else(|| d.uid.clone())
            .ok_or_else(|| Error::invalid_response("deployment without id"))?;
    let state = ReadyState::parse(
        d.ready_state
            .as_deref()
            .or(d.state.as_deref())
            .unwrap_or(""),
    );
    let (status, provisioning) = state.universal();
    let git_ref = meta_str(
        &d,
        &["githubCommitRef", "gitlabCommitRef", "bitbucketCommitRef"],
    )
    .map(str::to_owned)
    .or_else(|| {
        d.git_source
            .as_ref()
            .and_then(|g| g.get("ref"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let commit_sha = meta_str(
        &d,
        &["githubCommitSha", "gitlabCommitSha", "bitbucketCommitSha"],
    )
    .map(str::to_owned)
    .or_else(|| {
        d.git_source
            .as_ref()
            .and_then(|g| g.get("sha"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let service_id = d
        .project_id
        .clone()
        .or_else(|| project_id.map(str::to_owned))
        .unwrap_or_default();
    let name = d.url.clone().unwrap_or_else(|| id.clone());
    let mut meta = meta(
        dock_id,
        ResourceKind::Deployment,
        &id,
        &name,
        status,
        Value::Null,
    );
    meta.created_at = time_ms(d.created_at.or(d.created));
    meta.updated_at = time_ms(d.ready.or(d.created_at).or(d.created));
    meta.set_provider_data(raw, scrub);
    Ok(Deployment {
        service_id,
        url: d.url.as_ref().map(|u| format!("https://{u}")),
        environment: Some(d.target.clone().unwrap_or_else(|| "preview".into())),
        git_ref,
        commit_sha,
        provisioning,
        meta,
    })
}

/// The state of a deployment payload.
pub(crate) fn ready_state(raw: &Value) -> ReadyState {
    let s = raw
        .get("readyState")
        .or_else(|| raw.get("state"))
        .and_then(Value::as_str)
        .unwrap_or("");
    ReadyState::parse(s)
}

/// Id of a project domain resource: `<project id>/<domain>`.
pub(crate) fn project_domain_id(project_id: &str, domain: &str) -> String {
    format!("{project_id}/{domain}")
}

/// A domain attached to a project. Unverified domains carry the records
/// Vercel asks for in `verification`.
pub(crate) fn project_domain(dock_id: &str, raw: Value, project_id: &str) -> Result<Domain> {
    let d: ApiProjectDomain = view("project domain", &raw)?;
    let project_id = d.project_id.as_deref().unwrap_or(project_id).to_owned();
    let verified = d.verified.unwrap_or(false);
    let status = if verified {
        ResourceStatus::Active
    } else {
        ResourceStatus::Pending
    };
    let verification = if verified {
        Vec::new()
    } else {
        d.verification
            .iter()
            .flatten()
            .map(|v| VerificationRecord {
                record_type: v.kind.clone(),
                name: v.domain.clone(),
                value: v.value.clone(),
                reason: v.reason.clone(),
            })
            .collect()
    };
    let id = project_domain_id(&project_id, &d.name);
    let mut meta = meta(dock_id, ResourceKind::Domain, &id, &d.name, status, raw);
    meta.created_at = time_ms(d.created_at);
    meta.updated_at = time_ms(d.updated_at);
    Ok(Domain {
        service_id: Some(project_id),
        verified: Some(verified),
        verification,
        // Vercel issues certificates itself and always serves HTTPS.
        ssl: Some(true),
        redirect: d.redirect.filter(|r| !r.is_empty()),
        nameservers: Vec::new(),
        expires_at: None,
        meta,
    })
}

/// An account (team) domain. Its id is its name, which is how Vercel addresses it.
pub(crate) fn account_domain(dock_id: &str, raw: Value) -> Result<Domain> {
    let d: ApiAccountDomain = view("domain", &raw)?;
    let verified = d.verified.unwrap_or(false);
    let status = if verified {
        ResourceStatus::Active
    } else {
        ResourceStatus::Pending
    };
    let nameservers = d
        .custom_nameservers
        .filter(|n| !n.is_empty())
        .or(d.nameservers)
        .unwrap_or_default();
    let mut meta = meta(dock_id, ResourceKind::Domain, &d.name, &d.name, status, raw);
    meta.created_at = time_ms(d.created_at);
    Ok(Domain {
        service_id: None,
        verified: Some(verified),
        verification: Vec::new(),
        ssl: None,
        redirect: None,
        nameservers,
        expires_at: time_ms(d.expires_at),
        meta,
    })
}

/// Id of a DNS record resource: `<zone>/<record id>` (deleting needs the zone).
pub(crate) fn record_id(zone: &str, id: &str) -> String {
    format!("{zone}/{id}")
}

fn canonical_target(s: &str) -> String {
    let t = s.trim().trim_end_matches('.').to_ascii_lowercase();
    t
}

/// Parse `0 issue "letsencrypt.org"` (quotes optional).
fn parse_caa(value: &str) -> Option<RecordData> {
    let mut parts = value.trim().splitn(3, char::is_whitespace);
    let flags = parts.next()?.parse().ok()?;
    let tag = parts.next()?.to_owned();
    let rest = parts.next()?.trim();
    let value = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(rest)
        .to_owned();
    Some(RecordData::CAA { flags, tag, value })
}

/// Typed data of a Vercel record, `None` for types StackDock does not carry
/// or values it cannot parse.
///
/// Vercel keeps the MX preference in `mxPriority`, the SRV priority in
/// `priority` with `"weight port target"` in `value`, and the HTTPS priority in
/// `priority` with `"target params"` in `value`.
pub(crate) fn record_data(r: &ApiRecord) -> Option<RecordData> {
    let v = r.value.trim();
    Some(match r.kind.to_ascii_uppercase().as_str() {
        "A" => RecordData::A {
            address: v.parse::<Ipv4Addr>().ok()?,
        },
        "AAAA" => RecordData::AAAA {
            address: v.parse::<Ipv6Addr>().ok()?,
        },
        "CNAME" => RecordData::CNAME {
            target: canonical_target(v),
        },
        "ALIAS" => RecordData::ALIAS {
            target: canonical_target(v),
        },
        "NS" => RecordData::NS {
            nameserver: canonical_target(v),
        },
        "TXT" => RecordData::TXT {
            text: r.value.clone(),
        },
        "MX" => {
            // Some payloads put "10 mail.example.com" in value.
            let mut parts: Vec<&str> = v.split_whitespace().collect();
            let preference = match (r.mx_priority, parts.len()) {
                (Some(p), 1) => p,
                (_, 2) => parts.remove(0).parse().ok()?,
                (Some(p), _) => p,
                (None, _) => return None,
            };
            RecordData::MX {
                preference,
                exchange: canonical_target(parts.first()?),
            }
        }
        "SRV" => {
            let parts: Vec<&str> = v.split_whitespace().collect();
            let (priority, rest) = match parts.len() {
                4 => (parts[0].parse().ok()?, &parts[1..]),
                3 => (r.priority.unwrap_or(0), &parts[..]),
                _ => return None,
            };
            RecordData::SRV {
                priority,
                weight: rest[0].parse().ok()?,
                port: rest[1].parse().ok()?,
                target: canonical_target(rest[2]),
            }
        }
        "HTTPS" => {
            let (target, params) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
            let target = if target == "." {
                String::new()
            } else {
                canonical_target(target)
            };
            RecordData::HTTPS {
                priority: r.priority.unwrap_or(1),
                target,
                params: params.trim().to_owned(),
            }
        }
        "CAA" => parse_caa(v)?,
        _ => return None,
    })
}

/// A DNS record of `zone`, `None` for types or values StackDock cannot carry.
pub(crate) fn record(dock_id: &str, zone: &str, raw: Value) -> Result<Option<DnsRecord>> {
    let r: ApiRecord = view("DNS record", &raw)?;
    let Some(data) = record_data(&r) else {
        tracing::debug!(record = %r.id, kind = %r.kind, "skipping a DNS record StackDock cannot represent");
        return Ok(None);
    };
    let owner = match r.name.trim() {
        "" | "@" => zone.to_owned(),
        name => format!("{}.{zone}", name.trim_end_matches('.').to_ascii_lowercase()),
    };
    let id = record_id(zone, &r.id);
    let mut meta = meta(
        dock_id,
        ResourceKind::DnsRecord,
        &id,
        &owner,
        ResourceStatus::Active,
        raw,
    );
    meta.created_at = time_ms(r.created_at);
    meta.updated_at = time_ms(r.updated_at);
    Ok(Some(DnsRecord {
        zone: zone.to_owned(),
        ttl: r.ttl.unwrap_or(DEFAULT_TTL),
        data,
        meta,
    }))
}

/// The record name Vercel wants: relative to the zone, `""` for the apex.
pub(crate) use stackdock_core::dns::relative_owner as relative_name;

/// The create / update body for a record. Types Vercel does not serve are
/// rejected before any call.
pub(crate) fn record_body<'a>(
    name: &'a str,
    data: &'a RecordData,
    ttl: u32,
    comment: Option<&'a str>,
) -> Result<RecordBody<'a>> {
    let kind = data.record_type().as_str();
    let mut body = RecordBody {
        name,
        kind,
        value: None,
        mx_priority: None,
        srv: None,
        https: None,
        ttl,
        comment,
    };
    match data {
        RecordData::A { address } => body.value = Some(address.to_string()),
        RecordData::AAAA { address } => body.value = Some(address.to_string()),
        RecordData::CNAME { target } | RecordData::ALIAS { target } => {
            body.value = Some(target.clone())
        }
        RecordData::NS { nameserver } => body.value = Some(nameserver.clone()),
        RecordData::TXT { text } => body.value = Some(text.clone()),
        RecordData::MX {
            preference,
            exchange,
        } => {
            body.value = Some(exchange.clone());
            body.mx_priority = Some(*preference);
        }
        RecordData::CAA { flags, tag, value } => {
            if value.contains('"') {
                return Err(Error::invalid_input(
                    "data.value",
                    "Vercel CAA values cannot contain '\"'",
                ));
            }
            body.value = Some(format!("{flags} {tag} \"{value}\""));
        }
        RecordData::SRV {
            priority,
            weight,
            port,
            target,
        } => {
            body.srv = Some(SrvBody {
                priority: *priority,
                weight: *weight,
                port: *port,
                target,
            })
        }
        RecordData::HTTPS {
            priority,
            target,
            params,
        } => {
            body.https = Some(HttpsBody {
                priority: *priority,
                target: if target.is_empty() { "." } else { target },
                params,
            })
        }
        other => {
            return Err(Error::invalid_input(
                "data",
                format!("Vercel DNS does not serve {} records", other.record_type()),
            ))
        }
    }
    Ok(body)
}

/// An env var; its value becomes a secret and leaves `provider_data`.
pub(crate) fn env_var(mut raw: Value) -> Result<EnvVar> {
    let e: ApiEnv = view("env var", &raw)?;
    let targets = match &e.target {
        None => Vec::new(),
        Some(OneOrMany::One(t)) => EnvTarget::parse(t).into_iter().collect(),
        Some(OneOrMany::Many(ts)) => ts.iter().filter_map(|t| EnvTarget::parse(t)).collect(),
    };
    let value = e.value.map(SecretString::from);
    if let Value::Object(map) = &mut raw {
        for f in ENV_SECRET_FIELDS {
            map.remove(*f);
        }
    }
    scrub(&mut raw);
    Ok(EnvVar {
        id: e.id.unwrap_or_default(),
        key: e.key,
        value,
        kind: EnvType::parse(e.kind.as_deref().unwrap_or("plain")),
        targets,
        git_branch: e.git_branch,
        comment: e.comment,
        created_at: time_ms(e.created_at),
        updated_at: time_ms(e.updated_at),
        provider_data: raw,
    })
}

/// The record just written, built from what was sent (Vercel answers create
/// with only `{uid}`).
pub(crate) fn local_record(
    dock_id: &str,
    zone: &str,
    id: &str,
    owner: &str,
    ttl: u32,
    data: RecordData,
    raw: Value,
) -> DnsRecord {
    let mut meta = ResourceMeta::new(
        PROVIDER_ID,
        dock_id,
        ResourceKind::DnsRecord,
        record_id(zone, id),
        owner,
    )
    .with_status(ResourceStatus::Active)
    .with_provider_data(raw);
    meta.updated_at = Some(Utc::now());
    DnsRecord {
        zone: zone.to_owned(),
        ttl,
        data,
        meta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> RecordData {
        record_data(&ApiRecord::deserialize(&v).unwrap()).unwrap()
    }

    #[test]
    fn parses_vercel_record_values() {
        assert_eq!(
            rec(
                json!({"id":"r","name":"","type":"SRV","value":"10 5060 sip.example.com","priority":5})
            ),
            RecordData::SRV {
                priority: 5,
                weight: 10,
                port: 5060,
                target: "sip.example.com".into()
            }
        );
        assert_eq!(
            rec(json!({"id":"r","name":"","type":"HTTPS","value":". alpn=h2,h3","priority":1})),
            RecordData::HTTPS {
                priority: 1,
                target: "".into(),
                params: "alpn=h2,h3".into()
            }
        );
        assert_eq!(
            rec(json!({"id":"r","name":"","type":"CAA","value":"0 issue \"letsencrypt.org\""})),
            RecordData::CAA {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into()
            }
        );
        assert_eq!(
            rec(
                json!({"id":"r","name":"","type":"MX","value":"Mail.Example.com.","mxPriority":10})
            ),
            RecordData::MX {
                preference: 10,
                exchange: "mail.example.com".into()
            }
        );
    }

    #[test]
    fn unknown_state_and_env_scrubbing() {
        assert_eq!(
            ReadyState::parse("WAT").universal().0,
            ResourceStatus::Unknown
        );
        let mut v =
            json!({"env":[{"key":"A","target":["production"],"value":"s3cr3t","decrypted":true}]});
        scrub(&mut v);
        assert!(!v.to_string().contains("s3cr3t"));
        assert!(!v.to_string().contains("decrypted"));
    }

    #[test]
    fn scrub_removes_secret_keys_at_any_depth() {
        let mut v = json!({"name": "x", "api_key": "k", "nested": [{"Password": "p", "ok": 1}]});
        scrub(&mut v);
        assert_eq!(v, json!({"name": "x", "nested": [{"ok": 1}]}));
    }

    #[test]
    fn relative_names() {
        assert_eq!(relative_name("example.com", "example.com"), "");
        assert_eq!(relative_name("www.example.com", "example.com"), "www");
        assert_eq!(relative_name("a.b.example.com", "example.com"), "a.b");
    }
}
