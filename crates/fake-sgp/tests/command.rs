//! The `fake-sgp` command serves what it is told to, on the address given.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn post(port: u16, body: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "POST /api/ura/clientes/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

#[test]
fn serves_customers_with_the_given_credentials() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-sgp"))
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--customers",
            "7",
            "--token",
            "tok-123",
            "--app",
            "App",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        if let Some(a) = post(port, "token=tok-123&app=App&limit=100") {
            break a;
        }
        assert!(Instant::now() < deadline, "fake-sgp did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    let refused = post(port, "token=tok-123&app=app").unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"total\":7"), "{answer}");
    assert_eq!(answer.matches("\"nome\"").count(), 7);
    // the app name is case-sensitive, as in SGP
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.contains("Credenciais de autentica"), "{refused}");
}

#[test]
fn hostile_mode_redirects_every_request_where_it_is_told() {
    let creds = fake_sgp::Credentials::default();
    let form = format!("token={}&app={}&limit=100", creds.token, creds.app);
    let answer = serve_once(
        &[
            "--hostile",
            "redirect",
            "--redirect-to",
            "http://169.254.169.254/latest/meta-data/",
        ],
        &form,
    );
    assert!(answer.starts_with("HTTP/1.1 307"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("location: http://169.254.169.254/latest/meta-data/"),
        "{answer}"
    );
    // an unknown mode is refused with the ones it knows
    let unknown = Command::new(env!("CARGO_BIN_EXE_fake-sgp"))
        .args(["--hostile", "gentil"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("endless-body"));
}

/// Starts the command on a free port with `args`, posts `form` once it
/// answers, stops it; the raw answer.
fn serve_once(args: &[&str], form: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-sgp"))
        .args(["--addr", &format!("127.0.0.1:{port}"), "--customers", "3"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        if let Some(a) = post(port, form) {
            break a;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fake-sgp did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    answer
}
