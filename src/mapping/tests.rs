use super::*;
use crate::model::{DepartmentId, Profile, ProfileField, Status, User, UserKey};
use std::borrow::Cow;

fn person() -> User {
    User {
        key: UserKey::new("zhangsan"),
        display_name: "张三".into(),
        email: None,
        mobile: Some("13800000001".into()),
        title: Some("  Engineer ".into()),
        employee_no: None,
        departments: vec![DepartmentId::new("2")],
        status: Status::Active,
        manager: None,
        profile: Profile::default()
            .with(ProfileField::EnglishName, "Zhang San")
            .with(ProfileField::EnterpriseEmail, "")
            .with_custom("成本中心", "CC-01"),
    }
}

fn eval(text: &str) -> Option<String> {
    let user = person();
    let subject = Subject {
        user: &user,
        user_name: "zhangsan",
        department: Some("研发部"),
        department_path: Some("总部 / 研发部"),
    };
    Expr::parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .eval(&subject)
        .map(Cow::into_owned)
}

#[test]
fn fields_templates_and_custom_fields() {
    assert_eq!(eval("name").as_deref(), Some("张三"));
    assert_eq!(eval("display_name").as_deref(), Some("张三"));
    assert_eq!(eval("custom.成本中心").as_deref(), Some("CC-01"));
    assert_eq!(
        eval("{name} ({english_name})").as_deref(),
        Some("张三 (Zhang San)")
    );
    assert_eq!(eval("department_path").as_deref(), Some("总部 / 研发部"));
    assert_eq!(eval("{{{key}}}").as_deref(), Some("{zhangsan}"));
    assert_eq!(eval("{'Employee'}").as_deref(), Some("Employee"));
}

#[test]
fn an_empty_field_empties_the_template_unless_it_falls_back() {
    assert_eq!(eval("email"), None);
    assert_eq!(eval("{email}@x"), None);
    assert_eq!(
        eval("{enterprise_email|or:{email}|or:{user_name}@example.com}").as_deref(),
        Some("zhangsan@example.com")
    );
    assert_eq!(
        eval("{employee_number|default:员工}").as_deref(),
        Some("员工")
    );
    assert_eq!(
        eval("{title|default:员工|trim}").as_deref(),
        Some("Engineer")
    );
}

#[test]
fn pipes_transform_left_to_right() {
    assert_eq!(eval("{english_name|lower}").as_deref(), Some("zhang san"));
    assert_eq!(eval("{english_name|upper}").as_deref(), Some("ZHANG SAN"));
    assert_eq!(
        eval("{english_name|replace: :.|lower}").as_deref(),
        Some("zhang.san")
    );
    assert_eq!(eval("{name|pinyin}").as_deref(), Some("zhangsan"));
    assert_eq!(
        eval("{name|pinyin}@example.com").as_deref(),
        Some("zhangsan@example.com")
    );
}

#[test]
fn bad_expressions_say_what_is_wrong() {
    let error = |text: &str| Expr::parse(text).expect_err(text).to_string();
    assert!(
        error("nickname").contains("`nickname` is not a field"),
        "{}",
        error("nickname")
    );
    assert!(error("{name|shout}").contains("not a transform"));
    assert!(error("{name").contains("never closed"));
    assert!(error("name}").contains("closes nothing"));
    assert!(error("{name|default}").contains("needs what to use instead"));
    assert!(error("{name|replace:x}").contains("replace:FROM:TO"));
    assert!(error("custom.").contains("custom field's name"));
    assert!(error(" ").contains("is empty"));
}

#[test]
fn a_mapping_manages_its_roles_and_extras_and_refuses_doubles() {
    let mut mapping = Mapping::default();
    let cost = Field::named("urn:x:costCenter");
    mapping.set("title", Field::Title, "none").expect("none");
    mapping
        .set("urn:x:costCenter", cost, "custom.成本中心")
        .expect("extra");
    mapping
        .set("emails", Field::Email, "{enterprise_email|or:{email}}")
        .expect("role");
    assert_eq!(
        mapping.managed(),
        [
            Field::UserName,
            Field::DisplayName,
            Field::Email,
            Field::Mobile,
            Field::EmployeeNumber,
            Field::Department,
            cost
        ]
    );
    assert_eq!(
        mapping.custom_fields().into_iter().collect::<Vec<_>>(),
        ["成本中心"]
    );
    assert!(mapping.reads(SourceField::Profile(ProfileField::EnterpriseEmail)));
    assert!(!mapping.reads(SourceField::Mobile));
    let twice = mapping
        .set("emails[type eq \"work\"].value", Field::Email, "email")
        .expect_err("mapped twice");
    assert!(twice.to_string().contains("\"emails\""), "{twice}");
    let no_user_name = mapping
        .set("userName", Field::UserName, "none")
        .expect_err("userName is required");
    assert!(
        no_user_name.to_string().contains("userName"),
        "{no_user_name}"
    );
}
