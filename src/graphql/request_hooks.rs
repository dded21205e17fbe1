//! Extensions that look at a request as it passes (the metrics' operation label and timing,
//! the shape limit, the root field order) say only what they do at each step, in
//! [`RequestHooks`]; async-graphql's hook plumbing around the steps is written once, in
//! [`Hooked`].

use async_graphql::extensions::{
    Extension, ExtensionContext, NextExecute, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};

/// What validation gives: the validated document's facts, or why it is refused.
pub type Validation = Result<ValidationResult, Vec<ServerError>>;

/// What an extension does at each step of one request, before the operation runs or after a
/// step (each does nothing unless written).
pub trait RequestHooks: Send + Sync + 'static {
    /// The document as parsed; an error refuses the request before it is validated.
    fn parsed(&self, _document: &ExecutableDocument, _variables: &Variables) -> ServerResult<()> {
        Ok(())
    }

    /// What validation found, passed on or turned into a refusal before anything runs.
    fn validated(&self, _ctx: &ExtensionContext<'_>, result: Validation) -> Validation {
        result
    }

    /// The operation is about to run: it parsed, validated and its variables coerced.
    fn executing(&self, _ctx: &ExtensionContext<'_>) {}

    /// The operation's response, before the request's own hooks see it.
    fn executed(&self, _operation_name: Option<&str>, _response: &mut Response) {}

    /// The request's response, as it leaves (refused, failed or answered).
    fn answered(&self, _response: &Response) {}
}

/// An extension running `H`'s hooks.
pub struct Hooked<H>(pub H);

#[async_trait::async_trait]
impl<H: RequestHooks> Extension for Hooked<H> {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        self.0.answered(&response);
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        self.0.parsed(&document, variables)?;
        Ok(document)
    }

    async fn validation(&self, ctx: &ExtensionContext<'_>, next: NextValidation<'_>) -> Validation {
        let result = next.run(ctx).await;
        self.0.validated(ctx, result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        self.0.executing(ctx);
        let mut response = next.run(ctx, operation_name).await;
        self.0.executed(operation_name, &mut response);
        response
    }
}
