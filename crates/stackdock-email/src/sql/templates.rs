//! The Dovecot and Postfix configuration files that read the crate's schema.
//!
//! The templates live in the crate's `templates/` directory (documented
//! there) and are compiled in; [`render`] fills in the connection and schema.
//!
//! ```
//! use stackdock_email::sql::templates::{render, TemplateParams};
//! let params = TemplateParams::from_url("postgres://mailreader@127.0.0.1:5432/mail", "mail").unwrap();
//! let files = render(&params).unwrap();
//! let dovecot = files.iter().find(|f| f.file_name == "dovecot-sql.conf.ext").unwrap();
//! assert!(dovecot.contents().contains(r#"FROM "mail".virtual_users WHERE email = lower('%u') AND enabled"#));
//! ```

use std::fmt;

use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::{Error, Result};

use super::config::{check_schema_name, quote_ident};

const DOVECOT_SQL: &str = include_str!("../../templates/dovecot-sql.conf.ext");
const POSTFIX_DOMAINS: &str =
    include_str!("../../templates/postfix/pgsql-virtual-mailbox-domains.cf");
const POSTFIX_MAILBOXES: &str =
    include_str!("../../templates/postfix/pgsql-virtual-mailbox-maps.cf");
const POSTFIX_ALIASES: &str = include_str!("../../templates/postfix/pgsql-virtual-alias-maps.cf");
const POSTFIX_EMAIL2EMAIL: &str =
    include_str!("../../templates/postfix/pgsql-virtual-email2email.cf");
const POSTFIX_MAIN: &str = include_str!("../../templates/postfix/main.cf.snippet");

/// What the templates need. `Debug` redacts the password.
#[derive(Clone)]
#[non_exhaustive]
pub struct TemplateParams {
    /// Database host name or address.
    pub host: String,
    /// Database port.
    pub port: u16,
    /// Database name.
    pub dbname: String,
    /// Role Postfix and Dovecot log in as (read-only is enough).
    pub user: String,
    /// Its password, if any.
    pub password: Option<SecretString>,
    /// The crate's schema.
    pub schema: String,
    /// Dovecot `home` for each user (Dovecot variables allowed).
    pub mail_home: String,
    /// System uid owning the mail files.
    pub uid: u32,
    /// System gid owning the mail files.
    pub gid: u32,
    /// Where the Postfix map files are installed (for `main.cf`).
    pub postfix_dir: String,
}

impl fmt::Debug for TemplateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field(
                "password",
                &self
                    .password
                    .as_ref()
                    .map(|_| stackdock_core::secret::REDACTED),
            )
            .field("schema", &self.schema)
            .field("mail_home", &self.mail_home)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("postfix_dir", &self.postfix_dir)
            .finish()
    }
}

impl TemplateParams {
    /// Parameters for the role and database in a `postgres://` URL, with
    /// defaults `/var/vmail/%d/%n`, uid/gid 5000 and `/etc/postfix`.
    pub fn from_url(url: &str, schema: &str) -> Result<TemplateParams> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| Error::config("not a valid PostgreSQL connection string"))?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => return Err(Error::config("the URL needs a TCP host")),
        };
        Ok(TemplateParams {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            dbname: config
                .get_dbname()
                .or(config.get_user())
                .ok_or_else(|| Error::config("the URL needs a database name"))?
                .to_owned(),
            user: config
                .get_user()
                .ok_or_else(|| Error::config("the URL needs a user"))?
                .to_owned(),
            password: config
                .get_password()
                .map(|p| SecretString::from(String::from_utf8_lossy(p).into_owned())),
            schema: schema.to_owned(),
            mail_home: "/var/vmail/%d/%n".into(),
            uid: 5000,
            gid: 5000,
            postfix_dir: "/etc/postfix".into(),
        })
    }

    /// Use this Dovecot home template.
    pub fn with_mail_home(mut self, home: impl Into<String>) -> Self {
        self.mail_home = home.into();
        self
    }

    /// Use this uid/gid for mail files.
    pub fn with_owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Where the Postfix map files go.
    pub fn with_postfix_dir(mut self, dir: impl Into<String>) -> Self {
        self.postfix_dir = dir.into();
        self
    }

    fn check(&self) -> Result<()> {
        check_schema_name(&self.schema).map_err(|_| Error::config("invalid schema name"))?;
        let plain = |field: &str, v: &str, extra: &[u8]| {
            if v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b) || extra.contains(&b))
            {
                Err(Error::config(format!(
                    "{field} holds characters the config files cannot carry"
                )))
            } else {
                Ok(())
            }
        };
        plain("host", &self.host, b":")?;
        plain("dbname", &self.dbname, b"")?;
        plain("user", &self.user, b"")?;
        plain("mail_home", &self.mail_home, b"/%")?;
        plain("postfix_dir", &self.postfix_dir, b"/")?;
        if let Some(pw) = &self.password {
            let pw = pw.expose_secret();
            // Postfix reads values to the end of the line and trims them.
            if pw.chars().any(char::is_control) || pw.trim() != pw {
                return Err(Error::config(
                    "the password must not hold control characters or outer spaces",
                ));
            }
        }
        Ok(())
    }
}

/// One rendered configuration file. `Debug` hides the contents (they may hold a password).
#[derive(Clone)]
pub struct ConfigFile {
    /// File name, e.g. `dovecot-sql.conf.ext` or `pgsql-virtual-alias-maps.cf`.
    pub file_name: &'static str,
    /// `dovecot` or `postfix`.
    pub service: &'static str,
    contents: SecretString,
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigFile")
            .field("file_name", &self.file_name)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl ConfigFile {
    /// The file contents (may include the database password: write with mode 0600/0640).
    pub fn contents(&self) -> &str {
        self.contents.expose_secret()
    }

    /// The SQL `query` of a Postfix map file, as Postfix will run it (before `%s` expansion).
    pub fn postfix_query(&self) -> Option<&str> {
        self.contents()
            .lines()
            .find_map(|l| l.strip_prefix("query = "))
    }

    /// A `key = value` setting of the file (first occurrence).
    pub fn setting(&self, key: &str) -> Option<&str> {
        let prefix = format!("{key} = ");
        self.contents()
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
    }
}

/// libpq `keyword=value` quoting: single quotes, with `\` and `'` escaped.
fn libpq_value(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn fill(template: &str, p: &TemplateParams, qschema: &str) -> String {
    let mut connect = format!(
        "host={} port={} dbname={} user={}",
        libpq_value(&p.host),
        p.port,
        libpq_value(&p.dbname),
        libpq_value(&p.user)
    );
    if let Some(pw) = &p.password {
        connect.push_str(&format!(" password={}", libpq_value(pw.expose_secret())));
    }
    let postfix_hosts = if p.host.contains(':') {
        format!("inet:[{}]:{}", p.host, p.port)
    } else {
        format!("inet:{}:{}", p.host, p.port)
    };
    template
        .replace("{{dovecot_connect}}", &connect)
        .replace("{{postfix_hosts}}", &postfix_hosts)
        .replace("{{qschema}}", qschema)
        .replace("{{schema}}", &p.schema)
        .replace("{{dbname}}", &p.dbname)
        .replace("{{user}}", &p.user)
        .replace(
            "{{password}}",
            p.password
                .as_ref()
                .map(|s| s.expose_secret())
                .unwrap_or_default(),
        )
        .replace("{{mail_home}}", &p.mail_home)
        .replace("{{uid}}", &p.uid.to_string())
        .replace("{{gid}}", &p.gid.to_string())
        .replace("{{postfix_dir}}", &p.postfix_dir)
}

/// Render every file: `dovecot-sql.conf.ext`, the four Postfix map files and
/// the `main.cf` snippet (`main.cf.snippet`).
pub fn render(params: &TemplateParams) -> Result<Vec<ConfigFile>> {
    params.check()?;
    let qschema = quote_ident(&params.schema)?;
    let file = |file_name, service, template| ConfigFile {
        file_name,
        service,
        contents: SecretString::from(fill(template, params, &qschema)),
    };
    Ok(vec![
        file("dovecot-sql.conf.ext", "dovecot", DOVECOT_SQL),
        file(
            "pgsql-virtual-mailbox-domains.cf",
            "postfix",
            POSTFIX_DOMAINS,
        ),
        file(
            "pgsql-virtual-mailbox-maps.cf",
            "postfix",
            POSTFIX_MAILBOXES,
        ),
        file("pgsql-virtual-alias-maps.cf", "postfix", POSTFIX_ALIASES),
        file(
            "pgsql-virtual-email2email.cf",
            "postfix",
            POSTFIX_EMAIL2EMAIL,
        ),
        file("main.cf.snippet", "postfix", POSTFIX_MAIN),
    ])
}

/// Expand a Postfix `pgsql:` query the way Postfix does for a lookup key:
/// `%s` the key, `%u` its local part, `%d` its domain, `%%` a percent sign,
/// each SQL-quoted (single quotes doubled). Returns `None` where Postfix
/// skips the query (`%u` with an empty local part, `%d` without a domain).
/// Meant for tests and diagnostics; Postfix itself does this in production.
pub fn expand_postfix_query(query: &str, key: &str) -> Option<String> {
    let (local, domain) = match key.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (key, None),
    };
    let quote = |s: &str| s.replace('\'', "''");
    let mut out = String::with_capacity(query.len() + key.len());
    let mut chars = query.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push_str(&quote(key)),
            Some('u') if local.is_empty() => return None,
            Some('u') => out.push_str(&quote(local)),
            Some('d') => out.push_str(&quote(domain?)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder() {
        let params =
            TemplateParams::from_url("postgres://reader:p%27w@db.internal:6432/mail", "mail_v1")
                .unwrap();
        for f in render(&params).unwrap() {
            assert!(
                !f.contents().contains("{{"),
                "{} left a placeholder",
                f.file_name
            );
            assert!(!format!("{f:?}").contains("p'w"));
        }
        let files = render(&params).unwrap();
        let dovecot = &files[0];
        assert_eq!(
            dovecot.setting("connect"),
            Some(r"host='db.internal' port=6432 dbname='mail' user='reader' password='p\'w'")
        );
        let aliases = files
            .iter()
            .find(|f| f.file_name == "pgsql-virtual-alias-maps.cf")
            .unwrap();
        assert_eq!(aliases.setting("hosts"), Some("inet:db.internal:6432"));
        assert_eq!(
            aliases.postfix_query(),
            Some(
                r#"SELECT destination FROM "mail_v1".virtual_aliases WHERE source = '%s' AND enabled"#
            )
        );
        assert!(!format!("{params:?}").contains("p'w"));
    }

    #[test]
    fn rejects_what_config_files_cannot_carry() {
        let p = TemplateParams::from_url("postgres://reader@127.0.0.1/mail", "mail").unwrap();
        assert!(render(&p.clone().with_mail_home("/var/vmail/%d/%n\npassdb")).is_err());
        let mut bad = p.clone();
        bad.schema = "x\"; drop".into();
        assert!(render(&bad).is_err());
        let mut bad = p;
        bad.password = Some(SecretString::from("two\nlines"));
        assert!(render(&bad).is_err());
    }

    proptest::proptest! {
        /// Whatever the key, the expanded literal stays one SQL string: the
        /// quotes pair up and the text between them is the key.
        #[test]
        fn expansion_keeps_keys_inside_one_literal(key in "\\PC{0,40}") {
            let sql = expand_postfix_query("SELECT 1 WHERE k = '%s'", &key).unwrap();
            let inner = sql.strip_prefix("SELECT 1 WHERE k = '").and_then(|r| r.strip_suffix('\'')).unwrap();
            proptest::prop_assert_eq!(inner.replace("''", "'"), key.clone());
            proptest::prop_assert!(!inner.replace("''", "").contains('\''));
        }
    }

    #[test]
    fn postfix_expansion() {
        let q = "SELECT x FROM t WHERE a = '%s' AND l = '%u' AND d = '%d' AND p LIKE '100%%'";
        assert_eq!(
            expand_postfix_query(q, "o'neil@example.com").unwrap(),
            "SELECT x FROM t WHERE a = 'o''neil@example.com' AND l = 'o''neil' AND d = 'example.com' AND p LIKE '100%'"
        );
        assert_eq!(expand_postfix_query("SELECT '%u'", "@example.com"), None);
        assert_eq!(expand_postfix_query("SELECT '%d'", "nodomain"), None);
    }
}
