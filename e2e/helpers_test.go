package e2e

import "github.com/anthropics/anthropic-sdk-go/v2"

func anthropicAgentListParams() anthropic.BetaAgentListParams { return anthropic.BetaAgentListParams{} }
