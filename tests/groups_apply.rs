//! The engine's order for group steps, seen from the target: a recording pusher notes every call
//! (the point is the order the engine sends them in; real targets' group writes are tested
//! against them in their own tests). A group is created after its head, members are added only
//! once they exist, a member whose create failed holds their batch, and memberships go before
//! the account does.

use orgsync::engine::{Connector, Engine, HeldReason, RunMode, StepOutcome};
use orgsync::model::{
    Attributes, Department, DepartmentId, Directory, FieldChange, Status, TargetAccount, TargetId,
    User, UserKey,
};
use orgsync::plan::{GroupPolicy, Policy, StepKind};
use orgsync::pullers::{Platform, PullError, PullStats, Pulled, Puller};
use orgsync::pushers::{GroupWrite, PersonRef, PushError, Pusher, TargetKind};
use orgsync::report::Report;
use orgsync::snapshot::MemoryStore;
use std::sync::{Arc, Mutex};

/// Serves whatever directory the test last set.
struct MemoryPuller(Mutex<Directory>);

impl Puller for MemoryPuller {
    fn platform(&self) -> Platform {
        Platform::Wecom
    }

    async fn pull(&self) -> Result<Pulled, PullError> {
        Ok(Pulled {
            directory: self.0.lock().unwrap().clone(),
            stats: PullStats::default(),
        })
    }
}

/// Notes each call as one line; refuses to create the people named in `failing`.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    failing: Mutex<Vec<&'static str>>,
}

impl Recorder {
    fn note(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

fn keys(members: &[PersonRef<'_>]) -> String {
    let keys: Vec<&str> = members.iter().map(|m| m.key.as_str()).collect();
    keys.join(",")
}

impl Pusher for Recorder {
    fn kind(&self) -> TargetKind {
        TargetKind::Scim
    }

    async fn create(&self, key: &UserKey, _: &Attributes, _: bool) -> Result<TargetId, PushError> {
        self.note(format!("create {key}"));
        if self.failing.lock().unwrap().contains(&key.as_str()) {
            return Err(PushError::Conflict {
                detail: "refused by the test".into(),
            });
        }
        Ok(TargetId::new(format!("t-{key}")))
    }

    async fn update(
        &self,
        id: &TargetId,
        _: &[FieldChange],
    ) -> Result<Option<TargetId>, PushError> {
        self.note(format!("update {id}"));
        Ok(None)
    }

    async fn set_manager(&self, id: &TargetId, _: Option<&TargetId>) -> Result<(), PushError> {
        self.note(format!("set_manager {id}"));
        Ok(())
    }

    async fn set_active(&self, id: &TargetId, active: bool) -> Result<Option<TargetId>, PushError> {
        self.note(format!("set_active {id} {active}"));
        Ok(None)
    }

    async fn link(&self, id: &TargetId, _: &UserKey) -> Result<(), PushError> {
        self.note(format!("link {id}"));
        Ok(())
    }

    async fn delete(&self, id: &TargetId) -> Result<(), PushError> {
        self.note(format!("delete {id}"));
        Ok(())
    }

    async fn list(&self) -> Result<Vec<TargetAccount>, PushError> {
        Ok(Vec::new())
    }

    async fn create_group(&self, group: &GroupWrite<'_>) -> Result<TargetId, PushError> {
        let head = group.head.map_or("none".to_owned(), |h| h.id.to_string());
        self.note(format!("create_group {} head={head}", group.key));
        Ok(TargetId::new(format!("g-{}", group.key)))
    }

    async fn update_group(
        &self,
        id: &TargetId,
        group: &GroupWrite<'_>,
    ) -> Result<Option<TargetId>, PushError> {
        let head = group.head.map_or("none".to_owned(), |h| h.id.to_string());
        self.note(format!("update_group {id} head={head}"));
        Ok(None)
    }

    async fn add_members(
        &self,
        id: &TargetId,
        _: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        self.note(format!("add_members {id} {}", keys(members)));
        Ok(())
    }

    async fn remove_members(
        &self,
        id: &TargetId,
        _: &DepartmentId,
        members: &[PersonRef<'_>],
    ) -> Result<(), PushError> {
        self.note(format!("remove_members {id} {}", keys(members)));
        Ok(())
    }

    async fn delete_group(&self, id: &TargetId, _: &DepartmentId) -> Result<(), PushError> {
        self.note(format!("delete_group {id}"));
        Ok(())
    }
}

fn person(key: &str, department: &str) -> User {
    User {
        profile: Default::default(),
        key: UserKey::new(key),
        display_name: key.into(),
        email: None,
        mobile: None,
        title: None,
        employee_no: None,
        departments: vec![DepartmentId::new(department)],
        status: Status::Active,
        manager: None,
    }
}

fn department(id: &str, parent: Option<&str>, head: &str) -> Department {
    Department {
        id: DepartmentId::new(id),
        name: format!("Department {id}"),
        parent: parent.map(DepartmentId::new),
        heads: vec![UserKey::new(head)],
    }
}

/// HQ (headed by boss) above Sales (headed by lin); bad's account cannot be created at first.
fn org() -> Directory {
    let mut directory = Directory::default();
    for d in [
        department("1", None, "boss"),
        department("2", Some("1"), "lin"),
    ] {
        directory.departments.insert(d.id.clone(), d);
    }
    for user in [
        person("boss", "1"),
        person("lin", "2"),
        person("bad", "2"),
        person("zhou", "2"),
    ] {
        directory.insert_user(user);
    }
    directory
}

/// Where `call` was made, failing when it never was.
fn at(calls: &[String], call: &str) -> usize {
    calls
        .iter()
        .position(|c| c == call)
        .unwrap_or_else(|| panic!("{call:?} not among {calls:#?}"))
}

fn outcome_of(report: &Report, kind: StepKind, group: &str) -> Vec<StepOutcome> {
    report
        .steps
        .iter()
        .filter(|s| s.step.kind() == kind && s.step.subject().as_str() == group)
        .map(|s| s.outcome.clone())
        .collect()
}

#[tokio::test]
async fn group_steps_reach_the_target_in_an_order_it_accepts() {
    let puller = MemoryPuller(Mutex::new(org()));
    let recorder = Recorder::default();
    recorder.failing.lock().unwrap().push("bad");
    let connector = Connector {
        name: "hq".into(),
        puller,
        pusher: recorder,
        policy: Policy {
            groups: GroupPolicy {
                enabled: true,
                ..GroupPolicy::default()
            },
            // Two of four people leave at once: past the guard's share, on purpose.
            ..Policy::default().without_guard()
        },
        concurrency: 4,
    };
    let engine = Engine::new(Arc::new(MemoryStore::new()));

    // First run: people, then their groups (heads exist), then members who exist.
    let report = engine.run(&connector, RunMode::Apply).await.unwrap();
    let calls = connector.pusher.take();
    assert!(at(&calls, "create boss") < at(&calls, "create_group 1 head=t-boss"));
    assert!(at(&calls, "create lin") < at(&calls, "create_group 2 head=t-lin"));
    assert!(at(&calls, "create_group 1 head=t-boss") < at(&calls, "add_members g-1 boss"));
    // bad's create failed: Sales' batch, which names bad, is held whole.
    assert!(
        !calls.iter().any(|c| c.starts_with("add_members g-2")),
        "{calls:#?}"
    );
    assert_eq!(
        outcome_of(&report, StepKind::AddMembers, "2"),
        [StepOutcome::Held {
            reason: HeldReason::DependsOnFailedStep {
                user: UserKey::new("bad")
            }
        }]
    );

    // Second run: bad can be created now; the held batch goes through after it.
    connector.pusher.failing.lock().unwrap().clear();
    engine.run(&connector, RunMode::Apply).await.unwrap();
    let calls = connector.pusher.take();
    assert!(at(&calls, "create bad") < at(&calls, "add_members g-2 bad,lin,zhou"));

    // zhou leaves and lin, Sales' head, is frozen: the head is cleared and the memberships
    // removed before either account is deactivated.
    {
        let mut directory = connector.puller.0.lock().unwrap();
        directory
            .users
            .get_mut(&UserKey::new("zhou"))
            .unwrap()
            .status = Status::Resigned;
        directory
            .users
            .get_mut(&UserKey::new("lin"))
            .unwrap()
            .status = Status::Disabled;
    }
    engine.run(&connector, RunMode::Apply).await.unwrap();
    let calls = connector.pusher.take();
    let removed = at(&calls, "remove_members g-2 lin,zhou");
    assert!(at(&calls, "update_group g-2 head=none") < removed);
    assert!(removed < at(&calls, "set_active t-zhou false"));
    assert!(removed < at(&calls, "set_active t-lin false"));

    // Nothing changed upstream: nothing is written.
    let report = engine.run(&connector, RunMode::Apply).await.unwrap();
    assert!(report.steps.is_empty(), "{:#?}", report.steps);
    assert_eq!(connector.pusher.take(), Vec::<String>::new());
}
