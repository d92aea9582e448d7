//! User and session storage tests, run on SQLite and PostgreSQL.

use jiceng_domain::org::{DivisionCode, Role};

use crate::org::{LoginOutcome, NewUser};
use crate::testing;

#[tokio::test]
async fn users_log_in_and_sessions_end() {
    for db in testing::backends().await {
        let users = db.store.users();
        let new = NewUser {
            username: "wang".into(),
            display_name: "王网格".into(),
            password: "correct horse".into(),
            role: Role::GridWorker,
            scopes: vec![DivisionCode::parse("440307003002").unwrap()],
        };
        let user = users.add(&new).await.unwrap();
        assert_eq!(user.scopes, new.scopes);
        assert!(users.add(&new).await.is_err(), "duplicate username");
        assert!(
            users.add(&NewUser { username: "short".into(), password: "1234".into(), ..new.clone() }).await.is_err()
        );
        assert_eq!(users.verify_login("wang", "correct horse", "10.0.0.1").await.unwrap().map(|u| u.id), Some(user.id));
        assert!(users.verify_login("wang", "wrong", "10.0.0.1").await.unwrap().is_none());
        assert!(users.verify_login("nobody", "correct horse", "10.0.0.1").await.unwrap().is_none());
        let token = users.create_session(user.id).await.unwrap();
        let session = users.session_user(&token).await.unwrap().unwrap();
        assert_eq!(session.user.username, "wang");
        assert_eq!(session.csrf_token.len(), 32);
        users.end_session(&token).await.unwrap();
        assert!(users.session_user(&token).await.unwrap().is_none(), "{}", db.label);
        users.set_password(user.id, "another password").await.unwrap();
        assert!(users.verify_login("wang", "another password", "10.0.0.1").await.unwrap().is_some());
        assert!(users.change_password(&user, "wrong", "third password", "10.0.0.2", None).await.is_err());
        users.change_password(&user, "another password", "third password", "10.0.0.2", None).await.unwrap();

        // Five attempts from one address at one account; the sixth is refused whatever
        // it carries. Another address still gets in: a stranger cannot lock anyone out.
        for _ in 0..5 {
            assert_eq!(users.login("wang", "nope", "10.0.0.3").await.unwrap(), LoginOutcome::Rejected);
        }
        assert_eq!(users.login("wang", "third password", "10.0.0.3").await.unwrap(), LoginOutcome::Throttled);
        assert!(matches!(users.login("wang", "third password", "10.0.0.4").await.unwrap(), LoginOutcome::Success(_)));
        // The administrator sees the lock and lifts it.
        let locks = users.login_locks().await.unwrap();
        assert_eq!(locks.len(), 1, "{locks:?}");
        assert_eq!(
            (locks[0].kind, locks[0].address.as_deref(), locks[0].username.as_deref()),
            ("pair", Some("10.0.0.3"), Some("wang"))
        );
        users.clear_login_lock(&locks[0].key).await.unwrap();
        assert!(matches!(users.login("wang", "third password", "10.0.0.3").await.unwrap(), LoginOutcome::Success(_)));
        db.finish().await;
    }
}

/// A grid worker of community 440307003002 with this name and password.
fn grid_worker(username: &str, password: &str) -> NewUser {
    NewUser {
        username: username.into(),
        display_name: username.into(),
        password: password.into(),
        role: Role::GridWorker,
        scopes: vec![DivisionCode::parse("440307003002").unwrap()],
    }
}

/// 41 wrong guesses at once with the right password 30th: every attempt is counted
/// before its password is checked, so no attempt after the fifth is checked and the
/// right password, arriving late, is refused (the review logged in at position 30).
#[tokio::test]
async fn concurrent_guesses_are_counted_before_any_password_is_checked() {
    for db in testing::backends().await {
        let users = db.store.users();
        users.add(&grid_worker("li", "right password")).await.unwrap();
        let attempts = (0..41).map(|i| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let password = if i == 29 { "right password" } else { "wrong guess" };
                store.users().login("li", password, "10.9.9.9").await.unwrap()
            })
        });
        let outcomes: Vec<LoginOutcome> =
            futures_util::future::join_all(attempts).await.into_iter().map(|r| r.unwrap()).collect();
        let checked = outcomes.iter().filter(|o| !matches!(o, LoginOutcome::Throttled)).count();
        assert!(checked <= 5, "{checked} passwords checked ({})", db.label);
        let successes = outcomes.iter().filter(|o| matches!(o, LoginOutcome::Success(_))).count();
        // The right one may be among the first five counted; after that nothing gets in.
        assert!(successes <= 1);
        assert_eq!(
            users.login("li", "right password", "10.9.9.9").await.unwrap(),
            LoginOutcome::Throttled,
            "{}",
            db.label
        );
        db.finish().await;
    }
}

/// An address that keeps guessing after its lock adds nothing to the account's count:
/// 200 attempts from one address leave the account open to its owner elsewhere.
#[tokio::test]
async fn one_address_hammering_an_account_cannot_lock_it_for_others() {
    for db in testing::backends().await {
        let users = db.store.users();
        users.add(&grid_worker("zhou", "right password")).await.unwrap();
        for _ in 0..200 {
            users.login("zhou", "wrong", "10.7.7.7").await.unwrap();
        }
        assert_eq!(users.login("zhou", "right password", "10.7.7.7").await.unwrap(), LoginOutcome::Throttled);
        let elsewhere = users.login("zhou", "right password", "10.8.8.8").await.unwrap();
        assert!(matches!(elsewhere, LoginOutcome::Success(_)), "{}: {elsewhere:?}", db.label);
        db.finish().await;
    }
}

/// An office behind one address logs in all day: right passwords do not use up the
/// address's or the account's attempts.
#[tokio::test]
async fn right_passwords_do_not_count_against_an_address() {
    let db = testing::sqlite().await;
    let users = db.store.users();
    for name in ["wu", "zheng"] {
        users.add(&grid_worker(name, "right password")).await.unwrap();
    }
    for i in 0..40 {
        let name = if i % 2 == 0 { "wu" } else { "zheng" };
        let outcome = users.login(name, "right password", "10.6.6.6").await.unwrap();
        assert!(matches!(outcome, LoginOutcome::Success(_)), "login {i}: {outcome:?}");
    }
    db.finish().await;
}

/// Unknown names and real ones fail alike, and cost a password check alike.
#[tokio::test]
async fn unknown_and_real_usernames_fail_alike() {
    let db = testing::sqlite().await;
    let users = db.store.users();
    users.add(&grid_worker("zhao", "right password")).await.unwrap();
    // Warm the dummy hash once, then time both.
    let _ = users.login("warm-up", "x", "10.1.1.1").await.unwrap();
    let time = |name: &'static str, address: &'static str| {
        let users = db.store.users();
        async move {
            let start = std::time::Instant::now();
            assert_eq!(users.login(name, "wrong", address).await.unwrap(), LoginOutcome::Rejected);
            start.elapsed()
        }
    };
    let real = time("zhao", "10.1.1.2").await;
    let unknown = time("nobody-here", "10.1.1.3").await;
    // Both check a hash (a few ms each); an unknown name used to return at once.
    assert!(unknown * 4 > real, "unknown {unknown:?} vs real {real:?}");
    for _ in 0..5 {
        users.login("nobody-here", "wrong", "10.1.1.4").await.unwrap();
        users.login("zhao", "wrong", "10.1.1.5").await.unwrap();
    }
    assert_eq!(users.login("nobody-here", "wrong", "10.1.1.4").await.unwrap(), LoginOutcome::Throttled);
    assert_eq!(users.login("zhao", "wrong", "10.1.1.5").await.unwrap(), LoginOutcome::Throttled);
    db.finish().await;
}

/// Changing a password ends the user's other sessions; a reset ends them all.
#[tokio::test]
async fn password_changes_end_other_sessions() {
    for db in testing::backends().await {
        let users = db.store.users();
        let user = users.add(&grid_worker("sun", "first password")).await.unwrap();
        let (phone, desk) =
            (users.create_session(user.id).await.unwrap(), users.create_session(user.id).await.unwrap());
        users.change_password(&user, "first password", "second password", "10.2.2.2", Some(&desk)).await.unwrap();
        assert!(users.session_user(&phone).await.unwrap().is_none(), "{}", db.label);
        assert!(users.session_user(&desk).await.unwrap().is_some());
        users.set_password(user.id, "third password").await.unwrap();
        assert!(users.session_user(&desk).await.unwrap().is_none());
        db.finish().await;
    }
}
