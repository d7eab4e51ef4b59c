use super::{Attributes, TargetId, UserKey};

/// An account as the target holds it, listed for adoption and drift repair.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetAccount {
    pub id: TargetId,
    /// The upstream key the account is linked to (SCIM `externalId`), if any.
    pub external_id: Option<UserKey>,
    pub attributes: Attributes,
    pub active: bool,
    pub manager: Option<TargetId>,
}
