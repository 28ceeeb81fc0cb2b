//! Adopt or create: the idempotent creates, built on the one-call protocol
//! methods of [`client`](crate::client), and the update plan of a project.
//!
//! What an existing resource must match to be adopted is decided by the
//! small pure functions at the end; the `async` methods only sequence calls:
//! look, then adopt or create, and on a `409` look again (a lost earlier
//! attempt, or a concurrent caller, may have created it meanwhile).

use serde_json::Value;
use stackdock_core::dns::RecordData;
use stackdock_core::kit::{find_or_create, FoundOrMade};
use stackdock_core::resource::{DnsRecord, Domain, WebService};
use stackdock_core::{CreateOutcome, Error, ErrorKind, Result};

use crate::input;
use crate::mapping;
use crate::model::{ApiLink, ApiProject};
use crate::types::{EnvVar, NewEnvVar, NewProject, NewProjectDomain, ProjectUpdate};
use crate::VercelClient;

/// A create's result and whether this call made it.
pub(crate) type Made<T> = (T, CreateOutcome);

/// Vercel's answer to a create of what exists: 409.
fn conflict(e: &Error) -> bool {
    e.kind() == &ErrorKind::Conflict
}

impl VercelClient {
    /// Create a project, or adopt the project of the same name when it is
    /// compatible (`Conflict` when it is not). Validation happens before any call.
    ///
    /// A `node_version` is set right after the create; if that fails the new
    /// project is deleted again, so nothing half-made is left.
    pub async fn create_project(&self, p: &NewProject) -> Result<WebService> {
        self.create_project_outcome(p)
            .await
            .map(|(project, _)| project)
    }

    /// [`create_project`](Self::create_project), saying whether it created or adopted.
    pub(crate) async fn create_project_outcome(&self, p: &NewProject) -> Result<Made<WebService>> {
        const OP: &str = "create web service";
        input::new_project(p).map_err(|e| e.with_operation(OP))?;
        let adopt = |raw| async move {
            let adopted = self.adopt_project(p, raw).await;
            adopted.map_err(|e| e.with_operation(OP))
        };
        // A 409: a lost race (or an earlier attempt's answer): adopt the winner's.
        let find = || self.project_raw(&p.name);
        let raw = match find_or_create(find, adopt, self.post_project(p), conflict).await? {
            FoundOrMade::Adopted(adopted) => return Ok(adopted),
            FoundOrMade::Created(raw) => raw,
        };
        let mut project = mapping::project(self.dock_id(), raw)?;
        if let Some(version) = &p.node_version {
            self.set_node_version_or_roll_back(&project, version)
                .await
                .map_err(|e| e.with_operation(OP))?;
            project.runtime = Some(version.clone());
        }
        Ok((project, CreateOutcome::Created))
    }

    /// Vercel's create takes no `nodeVersion`: set it on the new project, and
    /// delete the project again when that fails.
    async fn set_node_version_or_roll_back(
        &self,
        project: &WebService,
        version: &str,
    ) -> Result<()> {
        let id = &project.meta.reference.provider_resource_id;
        let update = ProjectUpdate {
            node_version: Some(version.to_owned()),
            ..Default::default()
        };
        if let Err(e) = self.update_project(id, &update).await {
            let _ = self.delete_project(id).await;
            return Err(e);
        }
        Ok(())
    }

    async fn adopt_project(&self, p: &NewProject, raw: Value) -> Result<Made<WebService>> {
        let existing = ApiProject::deserialize_from(&raw)?;
        let bad = project_conflicts(p, &existing);
        if !bad.is_empty() {
            return Err(Error::conflict(format!(
                "project {} exists with a different {}",
                p.name,
                bad.join(", ")
            )));
        }
        // Finish what an interrupted create may have left out: env vars that
        // are missing. Still "adopted": nothing marks the project as made by
        // an earlier create of ours, and a rollback must never delete a
        // project someone else made.
        if !p.environment_variables.is_empty() {
            let have = self.list_env(&existing.id).await?;
            let missing = missing_env_vars(&p.environment_variables, &have);
            if !missing.is_empty() {
                self.create_env(&existing.id, &missing, false).await?;
            }
        }
        Ok((
            mapping::project(self.dock_id(), raw)?,
            CreateOutcome::Adopted,
        ))
    }

    /// Attach a domain to a project, or adopt it when it is already attached
    /// with the same settings (`Conflict` when the settings differ,
    /// `AlreadyExists` when another project holds it).
    ///
    /// An unverified domain comes back with `verified: Some(false)` and the
    /// records Vercel asks for in `verification`; create them, then call
    /// [`VercelClient::verify_project_domain`].
    pub async fn add_project_domain(&self, project: &str, d: &NewProjectDomain) -> Result<Domain> {
        self.add_project_domain_outcome(project, d)
            .await
            .map(|(domain, _)| domain)
    }

    /// [`add_project_domain`](Self::add_project_domain), saying whether it
    /// attached the domain or found it attached.
    pub(crate) async fn add_project_domain_outcome(
        &self,
        project: &str,
        d: &NewProjectDomain,
    ) -> Result<Made<Domain>> {
        const OP: &str = "create domain";
        let (name, redirect) =
            input::new_project_domain(project, d).map_err(|e| e.with_operation(OP))?;
        let adopt = |existing| {
            adopt_domain(existing, &name, &redirect)
                .map(|domain| (domain, CreateOutcome::Adopted))
                .map_err(|e| e.with_operation(OP))
        };
        if let Some(existing) = self.get_project_domain(project, &name).await? {
            return adopt(existing);
        }
        match self
            .post_project_domain(project, &name, redirect.as_deref(), d)
            .await
        {
            Ok(domain) => Ok((domain, CreateOutcome::Created)),
            // Attached meanwhile (a concurrent caller) or held elsewhere.
            Err(e) if matches!(e.kind(), ErrorKind::Conflict) => {
                match self.get_project_domain(project, &name).await? {
                    Some(existing) => adopt(existing),
                    None => Err(Error::already_exists(format!(
                        "domain {name} is in use by another project or account"
                    ))
                    .with_operation(OP)
                    .with_source(e)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Add a domain to the account (idempotent: an existing one is returned).
    pub async fn add_domain(&self, name: &str) -> Result<Domain> {
        self.add_domain_outcome(name)
            .await
            .map(|(domain, _)| domain)
    }

    /// [`add_domain`](Self::add_domain), saying whether it added the domain.
    pub(crate) async fn add_domain_outcome(&self, name: &str) -> Result<Made<Domain>> {
        const OP: &str = "add account domain";
        let name = input::domain("name", name).map_err(|e| e.with_operation(OP))?;
        // A 409: added meanwhile by a concurrent caller: adopt it.
        let (find, adopt) = (|| self.get_domain(&name), |d| async { Ok(d) });
        let made = find_or_create(find, adopt, self.post_domain(&name), conflict);
        Ok(made.await?.outcome())
    }

    /// Create a DNS record; an identical record (same owner, type and data)
    /// is adopted when its TTL matches, `Conflict` when it does not.
    /// `owner` is absolute (`www.example.com`) or relative (`www`, `@`).
    pub async fn create_dns_record(
        &self,
        zone: &str,
        owner: &str,
        ttl: Option<u32>,
        data: &RecordData,
        comment: Option<&str>,
    ) -> Result<DnsRecord> {
        self.create_dns_record_outcome(zone, owner, ttl, data, comment)
            .await
            .map(|(record, _)| record)
    }

    /// [`create_dns_record`](Self::create_dns_record), saying whether it
    /// added the record.
    ///
    /// Vercel accepts duplicate records, so this is made race-safe here:
    /// creates in one zone are serialised within the process, and after
    /// adding, the zone is read again — if another process added the same
    /// record too, the oldest copy wins and ours is deleted (adopted).
    pub(crate) async fn create_dns_record_outcome(
        &self,
        zone: &str,
        owner: &str,
        ttl: Option<u32>,
        data: &RecordData,
        comment: Option<&str>,
    ) -> Result<Made<DnsRecord>> {
        const OP: &str = "create dns record";
        let (zone, owner, ttl_value) =
            input::record(zone, owner, ttl, data).map_err(|e| e.with_operation(OP))?;
        let data = input::canonical_data(data)?;
        let lock = self.record_lock(&zone);
        let _serialised = lock.lock().await;
        let existing = self.list_dns_records(&zone).await?;
        if let Some(same) =
            adopt_record(existing, &owner, &data, ttl).map_err(|e| e.with_operation(OP))?
        {
            return Ok((same, CreateOutcome::Adopted));
        }
        let ours = self
            .post_dns_record(&zone, &owner, ttl_value, data.clone(), comment)
            .await?;
        self.keep_oldest_record(&zone, ours, &data).await
    }

    /// After adding `ours`: when the zone holds more than one record of the
    /// same owner and data (another process raced us), keep the oldest and
    /// delete ours unless it is that one.
    async fn keep_oldest_record(
        &self,
        zone: &str,
        ours: DnsRecord,
        data: &RecordData,
    ) -> Result<Made<DnsRecord>> {
        let twins = match self.list_dns_records(zone).await {
            Ok(records) => same_records(records, &ours.meta.name, data),
            Err(e) => {
                // The record is made; only the check for a cross-process
                // twin failed. Report what this call did.
                tracing::warn!(error = %e, zone, "could not re-read the zone after adding a record");
                return Ok((ours, CreateOutcome::Created));
            }
        };
        let ours_id = ours.meta.reference.provider_resource_id.clone();
        match twins.into_iter().next() {
            Some(oldest) if oldest.meta.reference.provider_resource_id != ours_id => {
                let record = ours_id
                    .rsplit_once('/')
                    .map_or(ours_id.as_str(), |(_, r)| r);
                self.delete_dns_record(zone, record).await?;
                Ok((oldest, CreateOutcome::Adopted))
            }
            _ => Ok((ours, CreateOutcome::Created)),
        }
    }
}

/// The records of `existing` with `owner` and `data`, oldest first (ties by id),
/// so that every racing creator picks the same one.
fn same_records(existing: Vec<DnsRecord>, owner: &str, data: &RecordData) -> Vec<DnsRecord> {
    let mut same: Vec<DnsRecord> = existing
        .into_iter()
        .filter(|r| r.meta.name == owner && &r.data == data)
        .collect();
    same.sort_by(|a, b| {
        (a.meta.created_at, &a.meta.reference.provider_resource_id)
            .cmp(&(b.meta.created_at, &b.meta.reference.provider_resource_id))
    });
    same
}

/// The update that brings `current` to `wanted`: every setting `wanted`
/// names, and the name when it differs. The connected repository cannot be
/// changed through the API.
pub(crate) fn project_update(wanted: NewProject, current: &WebService) -> Result<ProjectUpdate> {
    if wanted.repository.is_some() && wanted.repository != current.repository {
        return Err(Error::invalid_input(
            "repository",
            "connect another repository in Vercel's git settings; update cannot change it",
        ));
    }
    Ok(ProjectUpdate {
        name: (current.meta.name != wanted.name).then_some(wanted.name),
        framework: wanted.framework,
        build_command: wanted.build_command,
        dev_command: wanted.dev_command,
        install_command: wanted.install_command,
        output_directory: wanted.output_directory,
        root_directory: wanted.root_directory,
        node_version: wanted.node_version,
        // Sent only when it changes: `region` is the first of the project's
        // functionDefaultRegions, and sending one region would drop the others.
        region: wanted.region.filter(|r| current.region.as_ref() != Some(r)),
    })
}

/// Fields of an existing project that differ from what `p` asks for.
fn project_conflicts(p: &NewProject, existing: &ApiProject) -> Vec<&'static str> {
    let differs = |want: Option<&str>, have: Option<&str>| want.is_some_and(|w| Some(w) != have);
    let repo = existing.link.as_ref().and_then(ApiLink::repository);
    [
        (
            "framework",
            p.framework.as_deref(),
            existing.framework.as_deref(),
        ),
        (
            "runtime",
            p.node_version.as_deref(),
            existing.node_version.as_deref(),
        ),
        ("region", p.region.as_deref(), existing.region()),
        (
            "build_command",
            p.build_command.as_deref(),
            existing.build_command.as_deref(),
        ),
        (
            "output_directory",
            p.output_directory.as_deref(),
            existing.output_directory.as_deref(),
        ),
        ("repository", p.repository.as_deref(), repo.as_deref()),
    ]
    .into_iter()
    .filter(|(_, want, have)| differs(*want, *have))
    .map(|(field, _, _)| field)
    .collect()
}

/// The wanted env vars whose key the project does not have yet.
fn missing_env_vars(wanted: &[NewEnvVar], have: &[EnvVar]) -> Vec<NewEnvVar> {
    wanted
        .iter()
        .filter(|v| !have.iter().any(|h| h.key == v.key))
        .cloned()
        .collect()
}

/// An attached domain is ours to adopt when its redirect is the one asked for.
fn adopt_domain(existing: Domain, name: &str, redirect: &Option<String>) -> Result<Domain> {
    if &existing.redirect != redirect {
        return Err(Error::conflict(format!(
            "domain {name} is attached with a different redirect"
        )));
    }
    Ok(existing)
}

/// The (oldest) record of `existing` with the same owner and data: adopted when no TTL
/// is asked for or it matches, `Conflict` otherwise; `None` when there is none.
fn adopt_record(
    existing: Vec<DnsRecord>,
    owner: &str,
    data: &RecordData,
    ttl: Option<u32>,
) -> Result<Option<DnsRecord>> {
    let Some(same) = same_records(existing, owner, data).into_iter().next() else {
        return Ok(None);
    };
    if ttl.is_some_and(|t| t != same.ttl) {
        return Err(Error::conflict(format!(
            "{owner} {} exists with TTL {}",
            data.record_type(),
            same.ttl
        )));
    }
    Ok(Some(same))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conflicts_name_each_differing_field() {
        let existing: ApiProject = serde_json::from_value(json!({
            "id": "prj_1", "name": "web", "framework": "nextjs", "nodeVersion": "22.x",
            "resourceConfig": {"functionDefaultRegions": ["iad1"]},
            "link": {"type": "github", "org": "acme", "repo": "web"}
        }))
        .unwrap();
        let same = NewProject {
            name: "web".into(),
            framework: Some("nextjs".into()),
            region: Some("iad1".into()),
            repository: Some("acme/web".into()),
            ..Default::default()
        };
        assert!(project_conflicts(&same, &existing).is_empty());
        let other = NewProject {
            framework: Some("astro".into()),
            region: Some("fra1".into()),
            node_version: Some("20.x".into()),
            ..same
        };
        assert_eq!(
            project_conflicts(&other, &existing),
            ["framework", "runtime", "region"]
        );
    }

    #[test]
    fn an_unchanged_region_is_not_sent() {
        let current = mapping::project(
            "d",
            json!({"id": "prj_1", "name": "web",
                   "resourceConfig": {"functionDefaultRegions": ["iad1", "fra1"]}}),
        )
        .unwrap();
        let wanted = |region: &str| NewProject {
            name: "web".into(),
            region: Some(region.into()),
            ..Default::default()
        };
        let same = project_update(wanted("iad1"), &current).unwrap();
        assert_eq!(same, ProjectUpdate::default());
        let moved = project_update(wanted("cdg1"), &current).unwrap();
        assert_eq!(moved.region.as_deref(), Some("cdg1"));
    }

    #[test]
    fn records_are_adopted_only_with_the_same_owner_data_and_ttl() {
        let record = |owner: &str, ttl| {
            let meta = stackdock_core::ResourceMeta::new(
                mapping::PROVIDER_ID,
                "d",
                stackdock_core::ResourceKind::DnsRecord,
                "acme.example/rec_1",
                owner,
            );
            DnsRecord {
                zone: "acme.example".into(),
                ttl,
                data: RecordData::A {
                    address: [192, 0, 2, 1].into(),
                },
                meta,
            }
        };
        let data = RecordData::A {
            address: [192, 0, 2, 1].into(),
        };
        let have = || vec![record("www.acme.example", 300)];
        assert!(adopt_record(have(), "www.acme.example", &data, None)
            .unwrap()
            .is_some());
        assert!(adopt_record(have(), "www.acme.example", &data, Some(300))
            .unwrap()
            .is_some());
        assert!(adopt_record(have(), "api.acme.example", &data, None)
            .unwrap()
            .is_none());
        let e = adopt_record(have(), "www.acme.example", &data, Some(60)).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict);
    }
}
