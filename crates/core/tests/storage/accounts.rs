//! Accounts: login, sessions and their expiry, throttling, API tokens.

use std::time::Duration as StdDuration;

use chrono::Duration;
use sgp_import_core::auth::{
    AccountError, AuthService, LoginError, NewAccount, Principal, TokenError, MAX_PASSWORD_LEN,
};
use sgp_import_core::config::AuthSettings;
use sgp_import_core::model::{Role, TenantId, User};

use crate::executor::tenant;
use crate::on_both;
use crate::support::TestDb;

on_both!(
    login_opens_a_session_that_ends_when_idle_or_too_old,
    wrong_password_and_unknown_email_fail_alike_and_are_throttled,
    throttling_counts_per_address_across_accounts,
    api_tokens_work_until_revoked_and_are_stored_hashed,
    accounts_reject_bad_input_and_duplicate_emails,
    a_new_password_ends_existing_sessions,
    logout_ends_the_session_and_a_superadmin_picks_a_provider,
    a_session_is_marked_used_at_most_once_a_minute,
    parallel_guesses_are_counted_before_any_is_checked,
    a_disabled_account_answers_like_a_wrong_password,
    api_tokens_expire_and_only_sessions_make_them,
    bearer_tokens_are_read_without_writing,
    password_checks_are_bounded,
    what_no_account_can_match_costs_no_check_and_no_row,
    api_tokens_are_capped_and_dead_ones_swept,
    the_token_cap_holds_across_instances,
);

fn settings() -> AuthSettings {
    AuthSettings {
        session_idle: StdDuration::from_secs(3600),
        session_max: StdDuration::from_secs(10 * 3600),
        max_failures_per_account: 3,
        max_failures_per_address: 5,
        failure_window: StdDuration::from_secs(900),
        max_concurrent_logins: 4,
    }
}

fn auth(db: &TestDb) -> AuthService {
    AuthService::new(db.store.clone(), db.clock.clone(), settings())
}

async fn admin(auth: &AuthService, email: &str, tenant: TenantId) -> User {
    auth.create_user(NewAccount {
        email,
        name: "Ana Admin",
        password: "senha-segura-1",
        role: Role::Admin,
        tenant: Some(tenant),
    })
    .await
    .unwrap()
}

/// Ana, admin of a provider, logged in from a browser.
async fn signed_in_admin(db: &TestDb) -> (TenantId, AuthService, Principal) {
    let t = tenant(db, "net-a").await;
    let auth = auth(db);
    admin(&auth, "ana@neta.com.br", t.id).await;
    let p = auth
        .login("ana@neta.com.br", "senha-segura-1", "10.0.0.1", None)
        .await
        .unwrap()
        .principal;
    (t.id, auth, p)
}

async fn session_user(auth: &AuthService, token: &str) -> Option<Principal> {
    auth.session(token).await.unwrap()
}

async fn login_opens_a_session_that_ends_when_idle_or_too_old(db: &TestDb) {
    let t = tenant(db, "net-a").await;
    let auth = auth(db);
    let user = admin(&auth, "Ana@NetA.com.br", t.id).await;
    assert_eq!(user.email.as_str(), "ana@neta.com.br");

    let ok = auth
        .login(
            " ANA@neta.com.br",
            "senha-segura-1",
            "10.0.0.1",
            Some("test"),
        )
        .await
        .unwrap();
    let token = ok.token.expose().to_owned();
    let p = session_user(&auth, &token).await.expect("a live session");
    assert_eq!((p.user.id, p.tenant), (user.id, Some(t.id)));
    // used within the idle limit, again and again, up to the absolute limit
    for _ in 0..9 {
        db.clock.advance(Duration::minutes(59));
        assert!(session_user(&auth, &token).await.is_some());
    }
    db.clock.advance(Duration::minutes(70)); // past 10 h since login
    assert!(
        session_user(&auth, &token).await.is_none(),
        "absolute expiry"
    );

    let idle = auth
        .login("ana@neta.com.br", "senha-segura-1", "10.0.0.1", None)
        .await
        .unwrap();
    db.clock.advance(Duration::minutes(61));
    assert!(
        session_user(&auth, idle.token.expose()).await.is_none(),
        "idle expiry"
    );
    assert!(session_user(&auth, "not-a-token").await.is_none());
    // the sweep removes both dead sessions
    assert_eq!(auth.sweep().await.unwrap(), 2);
    // the token itself is never stored
    assert_eq!(db.rows_with_text("sessions", "token_hash", &token).await, 0);
}

async fn wrong_password_and_unknown_email_fail_alike_and_are_throttled(db: &TestDb) {
    let t = tenant(db, "net-a").await;
    let auth = auth(db);
    admin(&auth, "ana@neta.com.br", t.id).await;
    let wrong = auth
        .login("ana@neta.com.br", "errada!!", "10.0.0.1", None)
        .await
        .err()
        .unwrap();
    let unknown = auth
        .login("ninguem@neta.com.br", "errada!!", "10.0.0.1", None)
        .await
        .err()
        .unwrap();
    assert!(matches!(wrong, LoginError::Invalid));
    assert_eq!(wrong.to_string(), unknown.to_string());

    // two more failures on the account: the right password is refused too
    for _ in 0..2 {
        auth.login("ana@neta.com.br", "errada!!", "10.0.0.2", None)
            .await
            .err()
            .unwrap();
    }
    let throttled = auth
        .login("ana@neta.com.br", "senha-segura-1", "10.0.0.3", None)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(throttled, LoginError::Throttled { .. }),
        "{throttled}"
    );
    assert!(throttled
        .to_string()
        .contains("tente novamente em 15 minutos"));
    // after the window the account may log in, and success forgets failures
    db.clock.advance(Duration::minutes(16));
    auth.login("ana@neta.com.br", "senha-segura-1", "10.0.0.3", None)
        .await
        .unwrap();
    for _ in 0..2 {
        auth.login("ana@neta.com.br", "errada!!", "10.0.0.4", None)
            .await
            .err()
            .unwrap();
    }
    auth.login("ana@neta.com.br", "senha-segura-1", "10.0.0.4", None)
        .await
        .expect("two failures after a success are under the limit");
}

async fn throttling_counts_per_address_across_accounts(db: &TestDb) {
    let t = tenant(db, "net-a").await;
    let auth = auth(db);
    admin(&auth, "ana@neta.com.br", t.id).await;
    for n in 0..5 {
        let e = auth
            .login(&format!("x{n}@neta.com.br"), "errada!!", "10.9.9.9", None)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, LoginError::Invalid));
    }
    let blocked = auth
        .login("ana@neta.com.br", "senha-segura-1", "10.9.9.9", None)
        .await
        .err()
        .unwrap();
    assert!(matches!(blocked, LoginError::Throttled { .. }));
    auth.login("ana@neta.com.br", "senha-segura-1", "10.1.1.1", None)
        .await
        .expect("another address is not blocked");
}

async fn api_tokens_work_until_revoked_and_are_stored_hashed(db: &TestDb) {
    let (t, auth, p) = signed_in_admin(db).await;
    let (token, info) = auth
        .create_api_token(&p, " script noturno ", None)
        .await
        .unwrap();
    assert_eq!(info.name, "script noturno");
    assert_eq!(info.tenant_id, Some(t));
    let caller = auth.bearer(token.expose()).await.unwrap().expect("live");
    assert_eq!((caller.user.id, caller.tenant), (p.user.id, Some(t)));
    assert!(auth.bearer("sgpi_forged").await.unwrap().is_none());
    // a session token is not an API token
    assert_eq!(
        db.rows_with_text("api_tokens", "token_hash", token.expose())
            .await,
        0
    );
    let listed = auth.api_tokens(&p).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());

    auth.revoke_api_token(&p, info.id).await.unwrap();
    assert!(auth.bearer(token.expose()).await.unwrap().is_none());
    assert!(auth.api_tokens(&p).await.unwrap()[0].revoked_at.is_some());
    // another user cannot revoke it (nor learn that it exists)
    let other = tenant(db, "net-b").await;
    admin(&auth, "bia@netb.com.br", other.id).await;
    let q = auth
        .login("bia@netb.com.br", "senha-segura-1", "10.0.0.1", None)
        .await
        .unwrap()
        .principal;
    assert!(auth.revoke_api_token(&q, info.id).await.is_err());
}

async fn accounts_reject_bad_input_and_duplicate_emails(db: &TestDb) {
    let t = tenant(db, "net-a").await;
    let auth = auth(db);
    admin(&auth, "ana@neta.com.br", t.id).await;
    let attempt = |email: &'static str, password: &'static str, role, tenant| {
        let auth = &auth;
        async move {
            auth.create_user(NewAccount {
                email,
                name: "Nome",
                password,
                role,
                tenant,
            })
            .await
            .err()
            .unwrap()
        }
    };
    assert!(matches!(
        attempt("ANA@neta.com.br", "senha-segura-1", Role::Admin, Some(t.id)).await,
        AccountError::EmailTaken
    ));
    assert!(matches!(
        attempt("sem-arroba", "senha-segura-1", Role::Admin, Some(t.id)).await,
        AccountError::Email(_)
    ));
    assert!(matches!(
        attempt("b@neta.com.br", "curta", Role::Admin, Some(t.id)).await,
        AccountError::Password(_)
    ));
    assert!(matches!(
        attempt("c@neta.com.br", "senha-segura-1", Role::Admin, None).await,
        AccountError::TenantMismatch
    ));
    assert!(matches!(
        attempt(
            "d@neta.com.br",
            "senha-segura-1",
            Role::Superadmin,
            Some(t.id)
        )
        .await,
        AccountError::TenantMismatch
    ));
}

async fn a_new_password_ends_existing_sessions(db: &TestDb) {
    let t = tenant(db, "net-a").await;
    let auth = auth(db);
    let user = admin(&auth, "ana@neta.com.br", t.id).await;
    let old = auth
        .login("ana@neta.com.br", "senha-segura-1", "10.0.0.1", None)
        .await
        .unwrap();
    auth.set_password(user.id, "outra-senha-2").await.unwrap();
    assert!(session_user(&auth, old.token.expose()).await.is_none());
    assert!(auth
        .login("ana@neta.com.br", "senha-segura-1", "10.0.0.1", None)
        .await
        .is_err());
    auth.login("ana@neta.com.br", "outra-senha-2", "10.0.0.1", None)
        .await
        .unwrap();
}

async fn logout_ends_the_session_and_a_superadmin_picks_a_provider(db: &TestDb) {
    let a = tenant(db, "net-a").await;
    let b = tenant(db, "net-b").await;
    let auth = auth(db);
    auth.create_user(NewAccount {
        email: "root@sgp-import.local",
        name: "Root",
        password: "senha-segura-1",
        role: Role::Superadmin,
        tenant: None,
    })
    .await
    .unwrap();
    let ok = auth
        .login("root@sgp-import.local", "senha-segura-1", "10.0.0.1", None)
        .await
        .unwrap();
    let token = ok.token.expose().to_owned();
    let p = session_user(&auth, &token).await.unwrap();
    assert!(p.is_superadmin());
    assert_eq!(p.tenant, None, "no provider until one is picked");
    auth.choose_tenant(&p, b.id).await.unwrap();
    assert_eq!(
        session_user(&auth, &token).await.unwrap().tenant,
        Some(b.id)
    );
    auth.choose_tenant(&p, a.id).await.unwrap();
    assert_eq!(
        session_user(&auth, &token).await.unwrap().tenant,
        Some(a.id)
    );
    auth.logout(&p).await.unwrap();
    assert!(session_user(&auth, &token).await.is_none());
}

/// Polling pages must not write the session row on every request; the idle
/// clock then runs from the last mark, at most a minute old.
async fn a_session_is_marked_used_at_most_once_a_minute(db: &TestDb) {
    let t = tenant(db, "net-a").await;
    let auth = auth(db);
    admin(&auth, "ana@neta.com.br", t.id).await;
    let login = || auth.login("ana@neta.com.br", "senha-segura-1", "10.0.0.1", None);

    // used 30 s after login: not marked, so the hour of idleness counts
    // from the login
    let polled = login().await.unwrap();
    db.clock.advance(Duration::seconds(30));
    assert!(session_user(&auth, polled.token.expose()).await.is_some());
    db.clock
        .advance(Duration::minutes(59) + Duration::seconds(45));
    assert!(
        session_user(&auth, polled.token.expose()).await.is_none(),
        "a use within the minute does not move the idle clock"
    );

    // used 2 minutes after login: marked, so it lives an hour from then
    let used = login().await.unwrap();
    db.clock.advance(Duration::minutes(2));
    assert!(session_user(&auth, used.token.expose()).await.is_some());
    db.clock.advance(Duration::minutes(59));
    assert!(
        session_user(&auth, used.token.expose()).await.is_some(),
        "a use after the minute moves the idle clock"
    );
}

/// Sixty wrong passwords at once, through two app instances sharing the
/// database: only as many as the limit reach the password check, the rest
/// are refused before it.
async fn parallel_guesses_are_counted_before_any_is_checked(db: &TestDb) {
    let t = tenant(db, "net-a").await;
    let first = std::sync::Arc::new(auth(db));
    let second = std::sync::Arc::new(AuthService::new(
        db.second_store().await,
        db.clock.clone(),
        AuthSettings {
            max_concurrent_logins: 64,
            ..settings()
        },
    ));
    admin(&first, "ana@neta.com.br", t.id).await;
    let attempts = (0..60)
        .map(|n| {
            let auth = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tokio::spawn(async move {
                auth.login("ana@neta.com.br", "errada!!", &format!("10.0.1.{n}"), None)
                    .await
                    .err()
                    .unwrap()
            })
        })
        .collect::<Vec<_>>();
    let mut checked = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            LoginError::Invalid => checked += 1,
            LoginError::Throttled { .. } | LoginError::Busy { .. } => {}
            other => panic!("unexpected answer: {other}"),
        }
    }
    assert!(
        (1..=3).contains(&checked),
        "{checked} guesses were checked; the limit is 3"
    );
    assert_eq!(
        db.rows_with_text("login_failures", "email", "ana@neta.com.br")
            .await,
        checked
    );
    // the right password is refused too, until the window passes
    assert!(matches!(
        first
            .login("ana@neta.com.br", "senha-segura-1", "10.0.2.1", None)
            .await
            .err()
            .unwrap(),
        LoginError::Throttled { .. }
    ));
}

async fn a_disabled_account_answers_like_a_wrong_password(db: &TestDb) {
    let t = tenant(db, "net-a").await;
    let auth = auth(db);
    let user = admin(&auth, "ana@neta.com.br", t.id).await;
    db.disable_user(user.id.0).await;
    let disabled = auth
        .login("ana@neta.com.br", "senha-segura-1", "10.0.0.1", None)
        .await
        .err()
        .unwrap();
    let wrong = auth
        .login("ana@neta.com.br", "errada!!", "10.0.0.1", None)
        .await
        .err()
        .unwrap();
    assert!(matches!(disabled, LoginError::Invalid), "{disabled}");
    assert_eq!(disabled.to_string(), wrong.to_string());
}

async fn api_tokens_expire_and_only_sessions_make_them(db: &TestDb) {
    let (_, auth, p) = signed_in_admin(db).await;
    let (token, info) = auth
        .create_api_token(&p, "por um dia", Some(Duration::days(1)))
        .await
        .unwrap();
    assert_eq!(info.expires_at, Some(db.clock_now() + Duration::days(1)));
    let by_token = auth.bearer(token.expose()).await.unwrap().expect("live");
    let refused = auth
        .create_api_token(&by_token, "filho", None)
        .await
        .err()
        .unwrap();
    assert!(matches!(refused, TokenError::SessionRequired), "{refused}");
    assert_eq!(auth.api_tokens(&p).await.unwrap().len(), 1);
    db.clock.advance(Duration::hours(23));
    assert!(auth.bearer(token.expose()).await.unwrap().is_some());
    db.clock.advance(Duration::hours(2));
    assert!(
        auth.bearer(token.expose()).await.unwrap().is_none(),
        "an expired token no longer works"
    );
}

/// With every write to `api_tokens` blocked, looking tokens up still
/// answers: an unknown token, and a known one used less than a minute ago,
/// cost no write (on SQLite, none on the one writer imports use).
async fn bearer_tokens_are_read_without_writing(db: &TestDb) {
    let (_, auth, p) = signed_in_admin(db).await;
    let (token, _) = auth.create_api_token(&p, "script", None).await.unwrap();
    auth.bearer(token.expose()).await.unwrap().expect("live");
    let first_use = auth.api_tokens(&p).await.unwrap()[0].last_used_at;
    assert_eq!(first_use, Some(db.clock_now()));

    db.clock.advance(Duration::seconds(30));
    let lock = db.block_writes("api_tokens").await;
    let quick = StdDuration::from_secs(3);
    for n in 0..20 {
        let unknown = format!("sgpi_desconhecido{n}");
        let found = tokio::time::timeout(quick, auth.bearer(&unknown))
            .await
            .expect("an unknown token is answered without waiting for a write");
        assert!(found.unwrap().is_none());
    }
    tokio::time::timeout(quick, auth.bearer(token.expose()))
        .await
        .expect("a token used 30 s ago is not written again")
        .unwrap()
        .expect("live");
    lock.release().await;

    db.clock.advance(Duration::seconds(40));
    auth.bearer(token.expose()).await.unwrap().expect("live");
    assert_eq!(
        auth.api_tokens(&p).await.unwrap()[0].last_used_at,
        Some(db.clock_now()),
        "past the minute the use is written"
    );
}

/// One password check at a time and no waiting: of eight logins at once,
/// those that find the check busy are told to come back (429), without a
/// failure counted against the account.
async fn password_checks_are_bounded(db: &TestDb) {
    let t = tenant(db, "net-a").await;
    let auth = std::sync::Arc::new(
        AuthService::new(
            db.store.clone(),
            db.clock.clone(),
            AuthSettings {
                max_concurrent_logins: 1,
                max_failures_per_account: 100,
                max_failures_per_address: 100,
                ..settings()
            },
        )
        .with_hashing_wait(StdDuration::ZERO),
    );
    admin(&auth, "ana@neta.com.br", t.id).await;
    let logins = (0..8)
        .map(|_| {
            let auth = auth.clone();
            tokio::spawn(async move {
                auth.login("ana@neta.com.br", "senha-segura-1", "10.0.0.1", None)
                    .await
            })
        })
        .collect::<Vec<_>>();
    let (mut ok, mut busy) = (0, 0);
    for login in logins {
        match login.await.unwrap() {
            Ok(_) => ok += 1,
            Err(LoginError::Busy { retry_after }) => {
                assert!(retry_after > StdDuration::ZERO);
                busy += 1;
            }
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    assert!(ok >= 1, "the first login gets through");
    assert!(
        busy >= 1,
        "the others find the check busy ({ok} got through)"
    );
    assert_eq!(
        db.rows_with_text("login_failures", "email", "ana@neta.com.br")
            .await,
        0,
        "a busy answer counts no failure"
    );
}

/// A throttled client, an e-mail no account can have and a password
/// longer than any account may set are answered without a password check
/// (here there is none to take) and store nothing.
async fn what_no_account_can_match_costs_no_check_and_no_row(db: &TestDb) {
    let t = tenant(db, "net-a").await;
    let auth = auth(db);
    admin(&auth, "ana@neta.com.br", t.id).await;
    for n in 0..5 {
        auth.login(&format!("x{n}@neta.com.br"), "errada!!", "10.7.7.7", None)
            .await
            .err()
            .unwrap();
    }
    let closed = AuthService::new(db.store.clone(), db.clock.clone(), settings())
        .with_hashing_slots(0)
        .with_hashing_wait(StdDuration::ZERO);
    let busy = closed
        .login("ana@neta.com.br", "senha-segura-1", "10.1.2.3", None)
        .await
        .err()
        .unwrap();
    assert!(matches!(busy, LoginError::Busy { .. }), "{busy}");
    let throttled = closed
        .login("ana@neta.com.br", "senha-segura-1", "10.7.7.7", None)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(throttled, LoginError::Throttled { .. }),
        "a throttled address waits for no check: {throttled}"
    );

    let huge = format!("{}@neta.com.br", "a".repeat(100_000));
    let e = closed
        .login(&huge, "errada!!", "10.5.5.5", None)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, LoginError::Invalid), "{e}");
    let long = "a".repeat(MAX_PASSWORD_LEN + 1);
    let e = closed
        .login("ana@neta.com.br", &long, "10.5.5.5", None)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, LoginError::Invalid), "{e}");
    assert_eq!(
        db.rows_with_text("login_failures", "ip", "10.5.5.5").await,
        0,
        "nothing stored for them"
    );
}

/// At most 20 live tokens and 50 made a day per account (revoked ones
/// count for the day), and tokens dead for 30 days leave the list.
async fn api_tokens_are_capped_and_dead_ones_swept(db: &TestDb) {
    use sgp_import_core::auth::{MAX_API_TOKENS_A_DAY, MAX_LIVE_API_TOKENS};
    let (_, auth, p) = signed_in_admin(db).await;
    let mut live = Vec::new();
    for n in 0..MAX_LIVE_API_TOKENS {
        let (_, info) = auth
            .create_api_token(&p, &format!("t{n}"), None)
            .await
            .unwrap();
        live.push(info.id);
    }
    let full = auth
        .create_api_token(&p, "mais um", None)
        .await
        .err()
        .unwrap();
    assert!(matches!(full, TokenError::TooManyLive), "{full}");
    assert!(full.to_string().contains("revogue"), "{full}");
    // revoking makes room, until the day's count is spent
    let mut made = MAX_LIVE_API_TOKENS;
    while made < MAX_API_TOKENS_A_DAY {
        auth.revoke_api_token(&p, live.pop().unwrap())
            .await
            .unwrap();
        let (_, info) = auth.create_api_token(&p, "outro", None).await.unwrap();
        live.push(info.id);
        made += 1;
    }
    auth.revoke_api_token(&p, live.pop().unwrap())
        .await
        .unwrap();
    let spent = auth
        .create_api_token(&p, "outro", None)
        .await
        .err()
        .unwrap();
    assert!(matches!(spent, TokenError::TooManyToday), "{spent}");
    db.clock.advance(Duration::hours(25));
    auth.create_api_token(&p, "no dia seguinte", None)
        .await
        .expect("a new day");
    // the revoked ones leave the list 30 days later
    let listed = auth.api_tokens(&p).await.unwrap().len();
    assert_eq!(listed, MAX_API_TOKENS_A_DAY as usize + 1);
    db.clock.advance(Duration::days(31));
    auth.sweep().await.unwrap();
    assert_eq!(
        auth.api_tokens(&p).await.unwrap().len(),
        MAX_LIVE_API_TOKENS as usize,
        "only the live ones stay"
    );
}

/// One token short of the cap, requests through two app instances at
/// once make exactly one: the count and the insert are one step in the
/// database, not behind a lock of one process.
async fn the_token_cap_holds_across_instances(db: &TestDb) {
    use sgp_import_core::auth::MAX_LIVE_API_TOKENS;
    let (_, first, p) = signed_in_admin(db).await;
    for n in 1..MAX_LIVE_API_TOKENS {
        first
            .create_api_token(&p, &format!("t{n}"), None)
            .await
            .unwrap();
    }
    let first = std::sync::Arc::new(first);
    let second = std::sync::Arc::new(AuthService::new(
        db.second_store().await,
        db.clock.clone(),
        settings(),
    ));
    let p = std::sync::Arc::new(p);
    let requests = (0..16)
        .map(|n| {
            let auth = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let p = p.clone();
            tokio::spawn(async move { auth.create_api_token(&p, "corrida", None).await })
        })
        .collect::<Vec<_>>();
    let mut made = 0;
    for request in requests {
        match request.await.unwrap() {
            Ok(_) => made += 1,
            Err(TokenError::TooManyLive) => {}
            Err(other) => panic!("unexpected answer: {other}"),
        }
    }
    assert_eq!(made, 1);
    let live = first.api_tokens(&p).await.unwrap().len();
    assert_eq!(live, MAX_LIVE_API_TOKENS as usize);
}
