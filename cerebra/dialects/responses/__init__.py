"""The OpenAI Responses API (`/v1/responses`) for any alias: passed through natively to OpenAI deployments,
translated to and from chat completions for every other provider, with stored responses for
`previous_response_id`, retrieve and delete."""
