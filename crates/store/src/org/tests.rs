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
        assert_eq!(users.verify_login("wang", "correct horse").await.unwrap().map(|u| u.id), Some(user.id));
        assert!(users.verify_login("wang", "wrong").await.unwrap().is_none());
        assert!(users.verify_login("nobody", "correct horse").await.unwrap().is_none());
        let token = users.create_session(user.id).await.unwrap();
        let session = users.session_user(&token).await.unwrap().unwrap();
        assert_eq!(session.user.username, "wang");
        assert_eq!(session.csrf_token.len(), 32);
        users.end_session(&token).await.unwrap();
        assert!(users.session_user(&token).await.unwrap().is_none(), "{}", db.label);
        users.set_password(user.id, "another password").await.unwrap();
        assert!(users.verify_login("wang", "another password").await.unwrap().is_some());
        assert!(users.change_password(&user, "wrong", "third password").await.is_err());
        users.change_password(&user, "another password", "third password").await.unwrap();

        // Five wrong passwords lock the account, even against the right one.
        for _ in 0..4 {
            assert_eq!(users.login("wang", "nope").await.unwrap(), LoginOutcome::Rejected);
        }
        assert!(matches!(users.login("wang", "nope").await.unwrap(), LoginOutcome::Locked { .. }));
        assert!(
            matches!(users.login("wang", "third password").await.unwrap(), LoginOutcome::Locked { .. }),
            "{}",
            db.label
        );
        db.finish().await;
    }
}
