//! Discovery resources (RFC 7644 §4, RFC 7643 §5–7): what this service provider supports, stated
//! truthfully so a client that reads them learns the emulator's real limits.

use serde_json::{Value, json};
use std::borrow::Cow;

use super::schema::{DEPARTMENT_SCHEMA, ENTERPRISE_SCHEMA, GROUP_SCHEMA, Known, USER_SCHEMA};

pub(crate) fn service_provider_config(base_url: &str, max_page_size: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": max_page_size },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a static bearer token",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/ServiceProviderConfig"),
        },
    })
}

pub(crate) fn resource_types(base_url: &str, known: Known) -> Vec<Value> {
    let mut user_extensions = vec![json!({ "schema": ENTERPRISE_SCHEMA, "required": false })];
    user_extensions.extend(
        known
            .extensions()
            .map(|urn| json!({ "schema": urn, "required": false })),
    );
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER_SCHEMA,
            "schemaExtensions": user_extensions,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base_url}/ResourceTypes/User"),
            },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [{ "schema": DEPARTMENT_SCHEMA, "required": false }],
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base_url}/ResourceTypes/Group"),
            },
        }),
    ]
}

/// The User schema lists exactly the attributes the emulator stores (with those
/// `ScimConfig::user_attributes` adds, as strings); anything else is refused.
pub(crate) fn schemas(base_url: &str, unique_emails: bool, known: Known) -> Vec<Value> {
    let email_uniqueness = if unique_emails { "server" } else { "none" };
    let multi = |name, description, uniqueness| {
        Def::new(name, "complex", description).multi().sub(vec![
            Def::string("value", description).uniqueness(uniqueness),
            Def::string("type", "A label: work, home, other"),
            Def::new("primary", "boolean", "Whether this is the preferred value"),
            Def::string("display", "Accepted, not stored"),
        ])
    };
    let mut user = vec![
        Def::string("userName", "Unique identifier for the user")
            .required()
            .uniqueness("server"),
        Def::new("name", "complex", "The user's name")
            .sub(vec![Def::string("formatted", "The full name")]),
        Def::string("displayName", "The name displayed to end users"),
        Def::string("title", "The user's title"),
        Def::new("active", "boolean", "Whether the user may sign in"),
        multi(
            "emails",
            "Email addresses; the primary one first",
            email_uniqueness,
        ),
        multi("phoneNumbers", "Phone numbers", "none"),
        Def::new(
            "groups",
            "complex",
            "The Groups the user is a direct member of",
        )
        .multi()
        .read_only()
        .sub(vec![
            Def::string("value", "The id of the Group").exact(),
            Def::new("$ref", "reference", "The URI of the Group"),
            Def::string("display", "The Group's displayName"),
            Def::string("type", "Always direct"),
        ]),
    ];
    let mut enterprise = vec![
        Def::string(
            "employeeNumber",
            "Numeric or alphanumeric employee identifier",
        ),
        Def::string("department", "Name of a department"),
        Def::new("manager", "complex", "The user's direct manager").sub(vec![
            Def::string("value", "The id of the manager's User resource"),
            Def::new(
                "$ref",
                "reference",
                "The URI of the manager's User resource",
            ),
            Def::string("displayName", "The manager's displayName").read_only(),
        ]),
    ];
    let group = [
        Def::string(
            "displayName",
            "A human-readable name for the Group; unique, caselessly",
        )
        .required()
        .uniqueness("server"),
        Def::new("members", "complex", "The Users in the Group")
            .multi()
            .sub(vec![
                Def::string("value", "The id of a member User").exact(),
                Def::new("$ref", "reference", "The URI of the member User"),
                Def::string("type", "Always User"),
                Def::string("display", "The member's displayName").read_only(),
            ]),
    ];
    let mut extensions: Vec<(&str, Vec<Def>)> =
        known.extensions().map(|urn| (urn, Vec::new())).collect();
    let enterprise_prefix = format!("{ENTERPRISE_SCHEMA}:");
    for path in known.0 {
        if let Some(rest) = path.strip_prefix(&enterprise_prefix) {
            add_configured(&mut enterprise, rest);
        } else if let Some((urn, defs)) = extensions
            .iter_mut()
            .find(|(urn, _)| path.starts_with(&format!("{urn}:")))
        {
            add_configured(defs, &path[urn.len() + 1..]);
        } else {
            add_configured(&mut user, path);
        }
    }
    let mut all = vec![
        schema(base_url, USER_SCHEMA, "User", "User Account", &user),
        schema(
            base_url,
            ENTERPRISE_SCHEMA,
            "EnterpriseUser",
            "Enterprise User",
            &enterprise,
        ),
        schema(base_url, GROUP_SCHEMA, "Group", "Group", &group),
        schema(
            base_url,
            DEPARTMENT_SCHEMA,
            "DepartmentGroup",
            "The department a Group stands for (orgsync)",
            &department_attributes(),
        ),
    ];
    for (urn, defs) in extensions {
        all.push(schema(
            base_url,
            urn,
            "Extension",
            "A User extension this service provider was configured with",
            &defs,
        ));
    }
    all
}

/// Describes one configured attribute (`attr` or `attr.sub`) as a string, inside its complex
/// attribute when it is a sub-attribute.
fn add_configured(defs: &mut Vec<Def>, path: &str) {
    const DESCRIPTION: &str = "Served as configured";
    match path.split_once('.') {
        Some((attr, sub)) => {
            let sub = Def::string(sub.to_owned(), DESCRIPTION);
            match defs.iter_mut().find(|d| d.name.eq_ignore_ascii_case(attr)) {
                Some(complex) => complex.sub_attributes.push(sub),
                None => defs.push(Def::new(attr.to_owned(), "complex", DESCRIPTION).sub(vec![sub])),
            }
        }
        None => defs.push(Def::string(path.to_owned(), DESCRIPTION)),
    }
}

/// orgsync's department extension, as docs/scim.md describes it.
fn department_attributes() -> [Def; 2] {
    [
        Def::new("head", "complex", "The department's head").sub(vec![
            Def::string("value", "The id of the head's User resource").exact(),
            Def::string("externalId", "The head's externalId (their upstream key)").exact(),
        ]),
        Def::string(
            "parentDepartment",
            "The parent department's id: the externalId of its Group",
        )
        .exact(),
    ]
}

fn schema(base_url: &str, id: &str, name: &str, description: &str, attributes: &[Def]) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attributes.iter().map(Def::to_json).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": format!("{base_url}/Schemas/{id}") },
    })
}

/// An attribute definition (RFC 7643 §7), readWrite and optional unless told otherwise.
struct Def {
    name: Cow<'static, str>,
    kind: &'static str,
    description: &'static str,
    multi_valued: bool,
    required: bool,
    case_exact: bool,
    mutability: &'static str,
    uniqueness: &'static str,
    sub_attributes: Vec<Def>,
}

impl Def {
    fn new(
        name: impl Into<Cow<'static, str>>,
        kind: &'static str,
        description: &'static str,
    ) -> Self {
        Self {
            name: name.into(),
            kind,
            description,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: "readWrite",
            uniqueness: "none",
            sub_attributes: Vec::new(),
        }
    }

    fn string(name: impl Into<Cow<'static, str>>, description: &'static str) -> Self {
        Self::new(name, "string", description)
    }

    fn multi(self) -> Self {
        Self {
            multi_valued: true,
            ..self
        }
    }

    fn exact(self) -> Self {
        Self {
            case_exact: true,
            ..self
        }
    }

    fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    fn read_only(self) -> Self {
        Self {
            mutability: "readOnly",
            ..self
        }
    }

    fn uniqueness(self, uniqueness: &'static str) -> Self {
        Self { uniqueness, ..self }
    }

    fn sub(self, sub_attributes: Vec<Def>) -> Self {
        Self {
            sub_attributes,
            ..self
        }
    }

    fn to_json(&self) -> Value {
        let mut out = json!({
            "name": self.name,
            "type": self.kind,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "mutability": self.mutability,
            "returned": "default",
        });
        match self.kind {
            "string" => {
                out["caseExact"] = self.case_exact.into();
                out["uniqueness"] = self.uniqueness.into();
            }
            "reference" => out["referenceTypes"] = json!(["User"]),
            "complex" => {
                out["subAttributes"] = self.sub_attributes.iter().map(Def::to_json).collect();
            }
            _ => {}
        }
        out
    }
}
