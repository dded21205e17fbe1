//! Every root mutation field passes here: a READ_ONLY key is refused (`FORBIDDEN`) before the
//! resolver runs, and the resolver runs as an audited actor (the key, and the field's name as
//! the operation), so each write transaction it starts is recorded in the audit trail.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::{ErrorExtensions, PathSegment, ServerResult, Value};

use super::error::ApiError;
use crate::store::api_keys::KeyIdentity;
use crate::store::audit::{self, AuditContext};

pub struct MutationGuard;

impl ExtensionFactory for MutationGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(MutationGuard)
    }
}

#[async_trait::async_trait]
impl Extension for MutationGuard {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let caller = ctx.data_opt::<KeyIdentity>().copied();
        let (true, Some(caller)) = (info.parent_type == "Mutation", caller) else {
            return next.run(ctx, info).await;
        };
        if !caller.scope.may_write() {
            let error = ApiError::Forbidden(format!(
                "this API key is {}: it may not change data",
                caller.scope.as_str()
            ));
            let mut refused = error.extend().into_server_error(Default::default());
            refused.path = vec![PathSegment::Field(info.alias.unwrap_or(info.name).to_string())];
            return Err(refused);
        }
        let context = AuditContext {
            company_id: caller.company_id,
            api_key_id: Some(caller.key_id),
            operation: info.name.to_string(),
        };
        audit::audited(context, next.run(ctx, info)).await
    }
}
