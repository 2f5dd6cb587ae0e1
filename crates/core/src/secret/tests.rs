//! Tests of the secret helpers: redaction of every URL and DSN shape, and the one
//! secret-file parser (user names, `\r\n`, colons in passwords, error wording).

use std::io;
use std::path::Path;

use super::*;

#[test]
fn redacts_url_passwords_and_secret_parameters() {
    let cases = [
        ("mysql://u:secret@h/db", "mysql://u:***@h/db"),
        ("mysql://u:p%40ss@h:3306/db", "mysql://u:***@h:3306/db"),
        (
            "redis://:secret@127.0.0.1:6379",
            "redis://:***@127.0.0.1:6379",
        ),
        (
            "nats://tokenvalue@127.0.0.1:4222",
            "nats://***@127.0.0.1:4222",
        ),
        ("mysql://root@h/db", "mysql://root@h/db"),
        ("sqlite://x.db", "sqlite://x.db"),
        (
            "postgres://h/db?user=u&password=secret&sslmode=disable",
            "postgres://h/db?user=u&password=***&sslmode=disable",
        ),
        (
            "host=h user=u password=secret dbname=d",
            "host=h user=u password=*** dbname=d",
        ),
        (
            "u:secret@tcp(h:3306)/db?loc=UTC",
            "u:***@tcp(h:3306)/db?loc=UTC",
        ),
        ("u:se@cret@tcp(h:3306)/db", "u:***@tcp(h:3306)/db"),
        // Not a URL at all: still no password.
        ("mysql://u:secret@[bad/db", "mysql://u:***@[bad/db"),
        ("http://h/x?Token=abc", "http://h/x?Token=***"),
    ];
    for (input, want) in cases {
        assert_eq!(redact(input), want, "{input}");
        assert!(!redact(input).contains("secret"), "{input}");
    }
}

#[test]
fn secret_url_never_prints_its_password() {
    let url = SecretUrl::new("mysql://geo:hunter2@db/geodns");
    assert_eq!(url.expose(), "mysql://geo:hunter2@db/geodns");
    assert_eq!(url.to_string(), "mysql://geo:***@db/geodns");
    assert_eq!(
        format!("{url:?}"),
        "SecretUrl(\"mysql://geo:***@db/geodns\")"
    );
    assert_eq!(format!("{:?}", Secret("hunter2".into())), "Secret(***)");
    assert_eq!(Secret("hunter2".into()).to_string(), "***");
}

fn credentials(text: &str) -> Result<Credentials, SecretError> {
    parse_credentials(Path::new("/run/creds"), Ok(text.to_owned()))
}

#[test]
fn credentials_files() {
    let ok = [
        ("monitor:s3cr:et\n", "monitor", "s3cr:et"),
        ("monitor:pass\r\n", "monitor", "pass"),
        ("monitor:pass", "monitor", "pass"),
        ("root:\n", "root", ""),
        ("monitor:pass\nignored:line\n", "monitor", "pass"),
    ];
    for (text, user, password) in ok {
        let parsed = credentials(text).unwrap();
        assert_eq!(
            (parsed.user.as_str(), parsed.password.expose()),
            (user, password),
            "{text:?}"
        );
    }
    for bad in ["justauser\n", ":password\n", "", "\n"] {
        let error = credentials(bad).unwrap_err().to_string();
        assert_eq!(
            error,
            "`/run/creds` must hold `username:password` on its first line, with a non-empty user name",
            "{bad:?}"
        );
    }
    let missing = parse_credentials(
        Path::new("/run/none"),
        Err(io::Error::new(io::ErrorKind::NotFound, "No such file")),
    )
    .unwrap_err();
    assert_eq!(missing.to_string(), "cannot read `/run/none`: No such file");
    assert!(!format!("{:?}", credentials("u:hunter2").unwrap()).contains("hunter2"));
}

#[test]
fn single_secret_files() {
    let read = |text: &str| parse_secret(Path::new("/run/pw"), Ok(text.to_owned()));
    assert_eq!(read("hunter2\r\n").unwrap().expose(), "hunter2");
    assert_eq!(read("  SUAB\n").unwrap().expose(), "SUAB");
    assert_eq!(read("\r\n").unwrap_err().to_string(), "`/run/pw` is empty");
}

#[test]
fn credentials_go_into_urls_encoded() {
    let url = with_credentials(
        "mysql://db.example:3306/geodns",
        Some("geo dns"),
        Some("p@ss:w%"),
    )
    .unwrap();
    assert_eq!(
        url,
        "mysql://geo%20dns:p%40ss%3Aw%25@db.example:3306/geodns"
    );
    assert_eq!(decode_userinfo("p%40ss%3Aw%25"), "p@ss:w%");
    let error = with_credentials("mysql://u:hunter2@[::1/db", None, Some("x")).unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
    let error = with_credentials("sqlite:geodns.db", Some("u"), Some("p")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid URL `sqlite:geodns.db`: it has no host to put credentials before"
    );
}
