// Package anthropic is the model.Provider for the Anthropic Messages API,
// through the official Go SDK's streaming client. It owns the translation
// between model types and SDK params and events, the placement of
// prompt-caching breakpoints, and the mapping of SDK errors to model.Error.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/internal/upstream"
)

const providerName = model.ProviderAnthropic

// fastModeBeta is the beta some models require before they accept `speed`.
const fastModeBeta = "fast-mode-2026-02-01"

// Options configure a Provider.
type Options struct {
	// BaseURL of the Messages API, e.g. https://api.anthropic.com. Required:
	// the SDK's own fallback to ANTHROPIC_BASE_URL is switched off.
	BaseURL string
	// APIKey is sent as the SDK sends keys. Empty sends no credential
	// (for gateways that add their own).
	APIKey string
	// HTTPClient is the base client (nil for a default transport).
	HTTPClient *http.Client
	// StallTimeout fails a response that sends nothing for this long
	// (default upstream.DefaultStallTimeout).
	StallTimeout time.Duration
}

// Provider streams turns from the Messages API.
type Provider struct {
	client sdk.Client
	key    string
}

var _ model.Provider = (*Provider)(nil)

// New returns a provider. It reads nothing from the environment: the SDK's
// environment defaults (ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, profiles,
// ANTHROPIC_CUSTOM_HEADERS) are disabled, because on a Hangar host they
// describe how clients reach Hangar, not how Hangar reaches Anthropic.
func New(o Options) *Provider {
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(strings.TrimRight(o.BaseURL, "/") + "/"),
		option.WithHTTPClient(upstream.Client(o.HTTPClient, o.StallTimeout)),
		// The loop owns retries so it can report each one as a session.error
		// with retry_status "retrying" and honour interrupts between them.
		option.WithMaxRetries(0),
	}
	if o.APIKey != "" {
		opts = append(opts, option.WithAPIKey(o.APIKey))
	}
	return &Provider{client: sdk.NewClient(opts...), key: o.APIKey}
}

// NewFactory adapts New to model.Factory.
func NewFactory(base Options) model.Factory {
	return func(ep model.Endpoint) (model.Provider, error) {
		o := base
		o.BaseURL, o.APIKey = ep.BaseURL, ep.APIKey
		return New(o), nil
	}
}

// Stream implements model.Provider.
func (p *Provider) Stream(ctx context.Context, req *model.Request) iter.Seq2[model.Event, error] {
	return func(yield func(model.Event, error) bool) {
		if err := req.Validate(); err != nil {
			setProvider(err)
			yield(model.Event{}, err)
			return
		}
		params, err := buildParams(req)
		if err != nil {
			yield(model.Event{}, err)
			return
		}
		var reqOpts []option.RequestOption
		if req.Speed != "" {
			reqOpts = append(reqOpts, option.WithHeaderAdd("anthropic-beta", fastModeBeta))
		}
		stream := p.client.Messages.NewStreaming(ctx, params, reqOpts...)
		defer stream.Close()

		// Blocks of kinds the neutral model does not carry (server tools) are
		// dropped with their deltas; the indices of the others are kept.
		var skipped map[int64]bool
		stopped := false
		for stream.Next() {
			ev := stream.Current()
			out, ok := p.translate(&ev, &skipped)
			if !ok {
				continue
			}
			if out.Type == model.EventMessageStop {
				stopped = true
			}
			if !yield(out, nil) {
				return
			}
		}
		if err := stream.Err(); err != nil {
			yield(model.Event{}, p.mapError(ctx, err))
			return
		}
		if ctx.Err() != nil {
			yield(model.Event{}, ctx.Err())
			return
		}
		if !stopped {
			yield(model.Event{}, &model.Error{Kind: model.KindNetwork, Provider: providerName,
				Message: "the model stream ended before message_stop"})
		}
	}
}

func setProvider(err error) {
	if e, ok := model.AsError(err); ok && e.Provider == "" {
		e.Provider = providerName
	}
}

// translate maps one SDK stream event; ok is false for events to drop.
func (p *Provider) translate(ev *sdk.MessageStreamEventUnion, skipped *map[int64]bool) (model.Event, bool) {
	switch ev.Type {
	case "message_start":
		u := ev.Message.Usage
		return model.Event{
			Type:      model.EventMessageStart,
			MessageID: ev.Message.ID,
			Model:     string(ev.Message.Model),
			Usage: model.Usage{
				InputTokens:              u.InputTokens,
				OutputTokens:             u.OutputTokens,
				CacheCreationInputTokens: u.CacheCreationInputTokens,
				CacheReadInputTokens:     u.CacheReadInputTokens,
				// The 1-hour writes cost more than the 5-minute ones, so
				// list cost needs the split; only message_start has it.
				CacheCreation1hInputTokens: u.CacheCreation.Ephemeral1hInputTokens,
				Fast:                       u.Speed == sdk.UsageSpeedFast,
			},
		}, true
	case "content_block_start":
		cb := &ev.ContentBlock
		var b model.Block
		switch cb.Type {
		case "text":
			b = model.Block{Type: model.BlockText, Text: cb.Text}
		case "thinking":
			b = model.Block{Type: model.BlockThinking, Thinking: cb.Thinking, Signature: cb.Signature}
		case "redacted_thinking":
			b = model.Block{Type: model.BlockRedactedThinking, Data: cb.Data}
		case "tool_use":
			b = model.Block{Type: model.BlockToolUse, ID: cb.ID, Name: cb.Name}
		default:
			if *skipped == nil {
				*skipped = make(map[int64]bool)
			}
			(*skipped)[ev.Index] = true
			return model.Event{}, false
		}
		return model.Event{Type: model.EventBlockStart, Index: int(ev.Index), Block: &b}, true
	case "content_block_delta":
		if (*skipped)[ev.Index] {
			return model.Event{}, false
		}
		d := &ev.Delta
		out := model.Event{Type: model.EventBlockDelta, Index: int(ev.Index)}
		switch d.Type {
		case "text_delta":
			out.DeltaType, out.Delta = model.DeltaText, d.Text
		case "thinking_delta":
			out.DeltaType, out.Delta = model.DeltaThinking, d.Thinking
		case "signature_delta":
			out.DeltaType, out.Delta = model.DeltaSignature, d.Signature
		case "input_json_delta":
			out.DeltaType, out.Delta = model.DeltaInputJSON, d.PartialJSON
		default:
			// citations_delta and future kinds: nothing the loop uses.
			return model.Event{}, false
		}
		return out, true
	case "content_block_stop":
		if (*skipped)[ev.Index] {
			return model.Event{}, false
		}
		return model.Event{Type: model.EventBlockStop, Index: int(ev.Index)}, true
	case "message_delta":
		u := ev.Usage
		return model.Event{
			Type:         model.EventMessageDelta,
			StopReason:   model.StopReason(ev.Delta.StopReason),
			StopSequence: ev.Delta.StopSequence,
			Usage: model.Usage{
				InputTokens:              u.InputTokens,
				OutputTokens:             u.OutputTokens,
				CacheCreationInputTokens: u.CacheCreationInputTokens,
				CacheReadInputTokens:     u.CacheReadInputTokens,
			},
		}, true
	case "message_stop":
		return model.Event{Type: model.EventMessageStop}, true
	}
	return model.Event{}, false
}

// mapError turns an SDK error into a model.Error (or ctx.Err()).
func (p *Provider) mapError(ctx context.Context, err error) error {
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) {
		if ctx.Err() == nil && isDecodeError(err) {
			return &model.Error{Kind: model.KindServer, Provider: providerName,
				Message: "the model provider sent a malformed stream event", Err: err}
		}
		return upstream.Transport(ctx, providerName, err)
	}
	typ := string(apiErr.Type())
	status := apiErr.StatusCode
	e := &model.Error{
		Provider:  providerName,
		Type:      typ,
		Message:   upstream.Scrub(strings.TrimSpace(apiErr.Message), p.key),
		RequestID: apiErr.RequestID,
		Err:       err,
	}
	if status >= 300 {
		// An error event inside a 200 stream has the stream's status; it
		// carries no HTTP meaning of its own.
		e.Status = status
	}
	if apiErr.Response != nil && status >= 300 {
		e.RetryAfter = upstream.RetryAfter(apiErr.Response.Header, time.Now())
	}
	if k, ok := upstream.KindForType(typ); ok {
		e.Kind = k
	} else if e.Status != 0 {
		e.Kind = upstream.KindForStatus(e.Status)
	} else {
		e.Kind = model.KindServer
	}
	if e.Kind == model.KindInvalidRequest && upstream.LooksLikeContextOverflow(e.Message) {
		e.Kind = model.KindContextTooLong
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
		if e.Message == "" {
			e.Message = "the model provider returned an error"
		}
	}
	return e
}

func isDecodeError(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te)
}

// buildParams translates a validated request into SDK params, placing cache
// breakpoints unless the request disables them.
func buildParams(req *model.Request) (sdk.MessageNewParams, error) {
	params := sdk.MessageNewParams{
		Model:     sdk.Model(req.Model),
		MaxTokens: int64(req.MaxTokens),
	}
	for _, b := range req.System {
		params.System = append(params.System, sdk.TextBlockParam{Text: b.Text})
	}
	params.Messages = make([]sdk.MessageParam, 0, len(req.Messages))
	for i, m := range req.Messages {
		blocks := make([]sdk.ContentBlockParamUnion, 0, len(m.Content))
		for j, b := range m.Content {
			pb, err := blockParam(b)
			if err != nil {
				return params, invalid("messages[%d].content[%d].%v", i, j, err)
			}
			blocks = append(blocks, pb)
		}
		switch m.Role {
		case model.RoleUser:
			params.Messages = append(params.Messages, sdk.MessageParam{OfUser: &sdk.UserMessageParam{Content: blocks}})
		case model.RoleAssistant:
			params.Messages = append(params.Messages, sdk.MessageParam{OfAssistant: &sdk.AssistantMessageParam{Content: blocks}})
		case model.RoleSystem:
			var texts []sdk.TextBlockParam
			for j, b := range m.Content {
				if b.Type != model.BlockText {
					return params, invalid("messages[%d].content[%d].type: system messages hold only text", i, j)
				}
				texts = append(texts, sdk.TextBlockParam{Text: b.Text})
			}
			params.Messages = append(params.Messages, sdk.MessageParam{OfSystem: &sdk.SystemMessageParam{Content: texts}})
		}
	}
	for i, t := range req.Tools {
		schema, err := inputSchema(t.InputSchema)
		if err != nil {
			return params, invalid("tools[%d].input_schema: %v", i, err)
		}
		tp := &sdk.ToolParam{Name: t.Name, InputSchema: schema}
		if t.Description != "" {
			tp.Description = param.NewOpt(t.Description)
		}
		params.Tools = append(params.Tools, sdk.ToolUnionParam{OfTool: tp})
	}
	if tc := req.ToolChoice; tc != nil {
		var dp param.Opt[bool]
		if tc.DisableParallel {
			dp = param.NewOpt(true)
		}
		switch tc.Type {
		case "", "auto":
			params.ToolChoice.OfAuto = &sdk.ToolChoiceAutoParam{DisableParallelToolUse: dp}
		case "any":
			params.ToolChoice.OfAny = &sdk.ToolChoiceAnyParam{DisableParallelToolUse: dp}
		case "tool":
			params.ToolChoice.OfTool = &sdk.ToolChoiceToolParam{Name: tc.Name, DisableParallelToolUse: dp}
		case "none":
			params.ToolChoice.OfNone = &sdk.ToolChoiceNoneParam{}
		}
	}
	th := req.Thinking
	if th == nil {
		th = defaultThinking(req.Model, req.MaxTokens)
	}
	if th != nil {
		switch th.Type {
		case model.ThinkingEnabled:
			params.Thinking.OfEnabled = &sdk.ThinkingConfigEnabledParam{
				BudgetTokens: int64(th.BudgetTokens),
				Display:      sdk.ThinkingConfigEnabledDisplay(th.Display),
			}
		case model.ThinkingAdaptive:
			params.Thinking.OfAdaptive = &sdk.ThinkingConfigAdaptiveParam{
				Display: sdk.ThinkingConfigAdaptiveDisplay(th.Display),
			}
		case model.ThinkingDisabled:
			params.Thinking.OfDisabled = &sdk.ThinkingConfigDisabledParam{}
		}
	}
	if req.Effort != "" {
		params.OutputConfig.Effort = sdk.OutputConfigEffort(req.Effort)
	}
	if req.Speed != "" {
		params.Speed = sdk.MessageNewParamsSpeed(req.Speed)
	}
	params.StopSequences = req.StopSequences
	if !req.DisableCache {
		placeCacheBreakpoints(&params)
	}
	return params, nil
}

func invalid(format string, args ...any) *model.Error {
	return &model.Error{Kind: model.KindInvalidRequest, Provider: providerName, Message: fmt.Sprintf(format, args...)}
}

// placeCacheBreakpoints marks the end of the stable prefix for prompt
// caching. The API caches everything up to a marked block, in the order
// tools → system → messages, and allows four marks:
//   - the last tool and the last system block: the agent's configuration,
//     identical across every turn of a session;
//   - the last user turn: the whole conversation so far, read back by the
//     next request;
//   - the user turn before it: where the previous request wrote its entry,
//     so this request reads it even when the newest turn added more blocks
//     than the API's lookback window covers.
func placeCacheBreakpoints(p *sdk.MessageNewParams) {
	eph := sdk.NewCacheControlEphemeralParam()
	if n := len(p.Tools); n > 0 && p.Tools[n-1].OfTool != nil {
		p.Tools[n-1].OfTool.CacheControl = eph
	}
	for i := len(p.System) - 1; i >= 0; i-- {
		if p.System[i].Text != "" {
			p.System[i].CacheControl = eph
			break
		}
	}
	marked := 0
	for i := len(p.Messages) - 1; i >= 0 && marked < 2; i-- {
		u := p.Messages[i].OfUser
		if u == nil {
			continue
		}
		if markLast(u.Content) {
			marked++
		}
	}
}

// markLast puts a breakpoint on the last block that can carry one (not an
// empty text block, which the API rejects with cache_control).
func markLast(blocks []sdk.ContentBlockParamUnion) bool {
	eph := sdk.NewCacheControlEphemeralParam()
	for i := len(blocks) - 1; i >= 0; i-- {
		b := &blocks[i]
		switch {
		case b.OfText != nil:
			if b.OfText.Text == "" {
				continue
			}
			b.OfText.CacheControl = eph
		case b.OfImage != nil:
			b.OfImage.CacheControl = eph
		case b.OfDocument != nil:
			b.OfDocument.CacheControl = eph
		case b.OfToolResult != nil:
			b.OfToolResult.CacheControl = eph
		default:
			continue
		}
		return true
	}
	return false
}

// inputSchema sends the tool's JSON Schema as given when it already is an
// object schema (so the bytes, and the cache prefix, are stable), and wraps
// anything else into one.
func inputSchema(raw json.RawMessage) (sdk.ToolInputSchemaParam, error) {
	if len(raw) == 0 {
		return sdk.ToolInputSchemaParam{Properties: map[string]any{}}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return sdk.ToolInputSchemaParam{}, errors.New("must be a JSON object")
	}
	if t, _ := m["type"].(string); t == "object" {
		return param.Override[sdk.ToolInputSchemaParam](raw), nil
	}
	s := sdk.ToolInputSchemaParam{Properties: m["properties"], ExtraFields: map[string]any{}}
	for k, v := range m {
		switch k {
		case "type", "properties":
		case "required":
			if req, ok := v.([]any); ok {
				for _, r := range req {
					if name, ok := r.(string); ok {
						s.Required = append(s.Required, name)
					}
				}
			}
		default:
			s.ExtraFields[k] = v
		}
	}
	if s.Properties == nil {
		s.Properties = map[string]any{}
	}
	return s, nil
}

// blockParam translates one content block. Errors start with the field.
func blockParam(b model.Block) (sdk.ContentBlockParamUnion, error) {
	switch b.Type {
	case model.BlockText:
		return sdk.ContentBlockParamUnion{OfText: &sdk.TextBlockParam{Text: b.Text}}, nil
	case model.BlockImage:
		img, err := imageParam(b)
		if err != nil {
			return sdk.ContentBlockParamUnion{}, err
		}
		return sdk.ContentBlockParamUnion{OfImage: img}, nil
	case model.BlockDocument:
		doc, err := documentParam(b)
		if err != nil {
			return sdk.ContentBlockParamUnion{}, err
		}
		return sdk.ContentBlockParamUnion{OfDocument: doc}, nil
	case model.BlockToolUse:
		input := b.Input
		if len(input) == 0 {
			input = json.RawMessage(`{}`)
		}
		return sdk.ContentBlockParamUnion{OfToolUse: &sdk.ToolUseBlockParam{ID: b.ID, Name: b.Name, Input: input}}, nil
	case model.BlockToolResult:
		tr := &sdk.ToolResultBlockParam{ToolUseID: b.ToolUseID}
		if b.IsError {
			tr.IsError = param.NewOpt(true)
		}
		for k, c := range b.Content {
			switch c.Type {
			case model.BlockText:
				tr.Content = append(tr.Content, sdk.ToolResultBlockParamContentUnion{OfText: &sdk.TextBlockParam{Text: c.Text}})
			case model.BlockImage:
				img, err := imageParam(c)
				if err != nil {
					return sdk.ContentBlockParamUnion{}, fmt.Errorf("content[%d].%w", k, err)
				}
				tr.Content = append(tr.Content, sdk.ToolResultBlockParamContentUnion{OfImage: img})
			case model.BlockDocument:
				doc, err := documentParam(c)
				if err != nil {
					return sdk.ContentBlockParamUnion{}, fmt.Errorf("content[%d].%w", k, err)
				}
				tr.Content = append(tr.Content, sdk.ToolResultBlockParamContentUnion{OfDocument: doc})
			}
		}
		return sdk.ContentBlockParamUnion{OfToolResult: tr}, nil
	case model.BlockThinking:
		return sdk.ContentBlockParamUnion{OfThinking: &sdk.ThinkingBlockParam{Thinking: b.Thinking, Signature: b.Signature}}, nil
	case model.BlockRedactedThinking:
		return sdk.ContentBlockParamUnion{OfRedactedThinking: &sdk.RedactedThinkingBlockParam{Data: b.Data}}, nil
	}
	return sdk.ContentBlockParamUnion{}, errors.New("type: unsupported block type " + string(b.Type))
}

func imageParam(b model.Block) (*sdk.ImageBlockParam, error) {
	s := b.Source
	img := &sdk.ImageBlockParam{}
	switch s.Type {
	case "base64":
		img.Source.OfBase64 = &sdk.Base64ImageSourceParam{Data: s.Data, MediaType: sdk.Base64ImageSourceMediaType(s.MediaType)}
	case "url":
		img.Source.OfURL = &sdk.URLImageSourceParam{URL: s.URL}
	case "file":
		img.Source.OfFile = &sdk.FileImageSourceParam{FileID: s.FileID}
	default:
		return nil, errors.New("source.type: unsupported image source " + s.Type)
	}
	return img, nil
}

func documentParam(b model.Block) (*sdk.DocumentBlockParam, error) {
	s := b.Source
	doc := &sdk.DocumentBlockParam{}
	switch s.Type {
	case "base64":
		doc.Source.OfBase64 = &sdk.Base64PDFSourceParam{Data: s.Data}
	case "text":
		doc.Source.OfText = &sdk.PlainTextSourceParam{Data: s.Data}
	case "url":
		doc.Source.OfURL = &sdk.URLPDFSourceParam{URL: s.URL}
	case "file":
		doc.Source.OfFile = &sdk.FileDocumentSourceParam{FileID: s.FileID}
	default:
		return nil, errors.New("source.type: unsupported document source " + s.Type)
	}
	if b.Title != "" {
		doc.Title = param.NewOpt(b.Title)
	}
	if b.Context != "" {
		doc.Context = param.NewOpt(b.Context)
	}
	return doc, nil
}

// defaultThinking is extended thinking for a request that leaves it open:
// on by default, as Managed Agents runs its agents. Claude models
// from 4.6 on decide how much to think (adaptive); the 3.7 to 4.5
// generations get half the output budget; older Claude models and names
// this cannot place (a gateway's own model names) are sent without it, since
// a model that does not support thinking rejects the request.
func defaultThinking(modelID string, maxTokens int) *model.Thinking {
	major, minor, ok := claudeVersion(modelID)
	switch {
	case !ok:
		return nil
	case major > 4 || major == 4 && minor >= 6:
		return &model.Thinking{Type: model.ThinkingAdaptive}
	case (major == 4 || major == 3 && minor >= 7) && maxTokens/2 >= 1024:
		return &model.Thinking{Type: model.ThinkingEnabled, BudgetTokens: maxTokens / 2}
	}
	return nil
}

// claudeVersion reads the generation from a Claude model id, in both
// naming schemes: claude-3-7-sonnet-20250219 and claude-sonnet-4-5,
// claude-opus-4-20250514 (4.0: the date is not a minor version).
func claudeVersion(id string) (major, minor int, ok bool) {
	rest, ok := strings.CutPrefix(id, "claude-")
	if !ok {
		return 0, 0, false
	}
	parts := strings.Split(rest, "-")
	switch parts[0] {
	case "opus", "sonnet", "haiku":
		parts = parts[1:]
	}
	if len(parts) == 0 {
		return 0, 0, false
	}
	major, err := strconv.Atoi(parts[0])
	if err != nil || major < 1 || major > 99 {
		return 0, 0, false
	}
	if len(parts) > 1 && len(parts[1]) <= 2 {
		if minor, err = strconv.Atoi(parts[1]); err != nil {
			minor = 0
		}
	}
	return major, minor, true
}
