//! The hosts file: either one module URL per line (`#` comments, blank lines ignored), or TOML
//! with `[[host]]` tables naming `url` and optionally `name`, `login`, `password`.

use serde::Deserialize;

/// One module to poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Shown in the table; defaults to the URL's `host:port`.
    pub name: String,
    /// Base URL of the module, e.g. `http://10.0.0.5:5995` (no trailing slash).
    pub url: String,
    /// Basic auth sent with the status request (the official module does not require it, but
    /// some installations put a proxy with auth in front).
    pub login: Option<String>,
    /// Password for `login`.
    pub password: Option<String>,
}

/// Why a hosts file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("not a valid TOML hosts file: {0}")]
    Toml(String),
    #[error("host {index}: {message}")]
    Entry { index: usize, message: String },
    #[error("the hosts file names no host")]
    Empty,
    #[error("the name {0:?} is used by two hosts: names must be unique")]
    Duplicate(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    host: Vec<TomlHost>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlHost {
    name: Option<String>,
    url: String,
    login: Option<String>,
    password: Option<String>,
}

/// Parses a hosts file (either form).
pub fn parse_hosts(text: &str) -> Result<Vec<Host>, HostsError> {
    let looks_like_toml = text.lines().any(|line| {
        let line = line.trim();
        line.starts_with('[') || line.contains('=')
    });
    let hosts = if looks_like_toml {
        parse_toml(text)?
    } else {
        parse_lines(text)?
    };
    if hosts.is_empty() {
        return Err(HostsError::Empty);
    }
    for (i, host) in hosts.iter().enumerate() {
        if hosts[..i].iter().any(|other| other.name == host.name) {
            return Err(HostsError::Duplicate(host.name.clone()));
        }
    }
    Ok(hosts)
}

fn parse_lines(text: &str) -> Result<Vec<Host>, HostsError> {
    let mut hosts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let url = normalize_url(line).map_err(|message| HostsError::Line {
            line: index + 1,
            message,
        })?;
        hosts.push(Host {
            name: default_name(&url),
            url,
            login: None,
            password: None,
        });
    }
    Ok(hosts)
}

fn parse_toml(text: &str) -> Result<Vec<Host>, HostsError> {
    let file: TomlFile =
        toml::from_str(text).map_err(|err| HostsError::Toml(err.to_string().trim().to_owned()))?;
    file.host
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let entry_error = |message: String| HostsError::Entry {
                index: index + 1,
                message,
            };
            let url = normalize_url(&entry.url).map_err(entry_error)?;
            if entry.password.is_some() && entry.login.is_none() {
                return Err(entry_error("password without login".to_owned()));
            }
            let name = match entry.name {
                Some(name) if name.trim().is_empty() => {
                    return Err(entry_error("name is empty".to_owned()));
                }
                Some(name) => name.trim().to_owned(),
                None => default_name(&url),
            };
            Ok(Host {
                name,
                url,
                login: entry.login,
                password: entry.password,
            })
        })
        .collect()
}

/// A module's base URL without trailing slashes; only http and https.
fn normalize_url(text: &str) -> Result<String, String> {
    let url = text.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(format!("{url:?} is not a valid URL"));
    }
    Ok(url.to_owned())
}

/// `host:port` of a URL (what a reader recognises in a table).
fn default_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_per_line_with_comments() {
        let hosts =
            parse_hosts("# shops\nhttp://10.0.0.5:5995/\n\n  https://lm.shop2.example  \n# end\n")
                .unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].url, "http://10.0.0.5:5995");
        assert_eq!(hosts[0].name, "10.0.0.5:5995");
        assert_eq!(hosts[1].name, "lm.shop2.example");
        assert_eq!(hosts[1].login, None);
    }

    #[test]
    fn toml_with_names_and_credentials() {
        let hosts = parse_hosts(
            "[[host]]\nname = \"Shop 1\"\nurl = \"http://10.0.0.5:5995\"\nlogin = \"admin\"\n\
             password = \"pw\"\n\n[[host]]\nurl = \"http://10.0.0.6:5995\"\n",
        )
        .unwrap();
        assert_eq!(hosts[0].name, "Shop 1");
        assert_eq!(hosts[0].login.as_deref(), Some("admin"));
        assert_eq!(hosts[0].password.as_deref(), Some("pw"));
        assert_eq!(hosts[1].name, "10.0.0.6:5995");
    }

    #[test]
    fn bad_files_get_errors_naming_the_place() {
        let line = parse_hosts("http://a:1\nftp://b\n")
            .unwrap_err()
            .to_string();
        assert!(
            line.starts_with("line 2:") && line.contains("ftp://b"),
            "{line}"
        );
        let key = parse_hosts("[[host]]\nurl = \"http://a\"\nuser = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(key.contains("user"), "{key}");
        let lone = parse_hosts("[[host]]\nurl = \"http://a\"\npassword = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            lone.contains("host 1") && lone.contains("without login"),
            "{lone}"
        );
        let duplicate = parse_hosts("http://a:1\nhttp://a:1/\n")
            .unwrap_err()
            .to_string();
        assert!(duplicate.contains("a:1"), "{duplicate}");
        assert!(matches!(
            parse_hosts("# nothing\n\n"),
            Err(HostsError::Empty)
        ));
    }
}
