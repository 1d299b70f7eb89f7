// Package providers wires the concrete model providers into a model.Router.
// It is the model layer's small composition root: the server calls it with
// the resolved model.Config, and nothing else needs to know that the
// anthropic and openai packages exist.
package providers

import (
	"net/http"
	"time"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/anthropic"
	"github.com/hangarhq/hangar/internal/model/openai"
)

// Options apply to every provider the router builds.
type Options struct {
	// HTTPClient is the base client (nil for a default transport).
	HTTPClient *http.Client
	// StallTimeout fails a response that sends nothing for this long (0 for
	// the default, five minutes).
	StallTimeout time.Duration
}

// Factories returns the factory of every provider kind.
func Factories(o Options) map[string]model.Factory {
	return map[string]model.Factory{
		model.ProviderAnthropic: anthropic.NewFactory(anthropic.Options{HTTPClient: o.HTTPClient, StallTimeout: o.StallTimeout}),
		model.ProviderOpenAI:    openai.NewFactory(openai.Options{HTTPClient: o.HTTPClient, StallTimeout: o.StallTimeout}),
	}
}

// NewRouter builds the router for cfg.
func NewRouter(cfg model.Config, o Options) (*model.Router, error) {
	return model.NewRouter(cfg, Factories(o))
}
