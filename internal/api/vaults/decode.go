package vaults

import (
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/jsonobj"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// Limits the API documents for credentials.
const (
	maxDisplayName  = 255
	maxAllowedHosts = 16
	maxSecretName   = 256
	maxCredentials  = 20
)

// The auth union and its nested unions arrive as raw JSON: each level is
// walked with jsonobj, strictly, so that every error names its full field
// path (auth.refresh.token_endpoint_auth.client_secret) and never echoes a
// value. A level's members are all read (wrong types refused) and unknown
// ones refused before any rule about their values is checked.

// union opens the union member at path and reads its discriminator, which
// must be one of allowed.
func union(path string, raw json.RawMessage, allowed ...string) (*members, string, error) {
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return nil, "", err
	}
	t, err := o.Discriminator()
	if err != nil {
		return nil, "", err
	}
	if err := check.Enum(o.At("type"), t, allowed...); err != nil {
		return nil, "", err
	}
	return &members{o: o}, t, nil
}

// object opens the plain object at path.
func object(path string, raw json.RawMessage) (*members, error) {
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return nil, err
	}
	return &members{o: o}, nil
}

// members reads an object's members into a params struct, keeping the
// first error, so a struct literal can list them; done reports that error
// or the first unknown member.
type members struct {
	o   *jsonobj.Object
	err error
}

// str reads a string member with its three states.
func (m *members) str(key string) wire.Opt[string] {
	if m.err != nil {
		return wire.Opt[string]{}
	}
	s, p, err := m.o.Str(key)
	m.err = err
	return wire.Opt[string]{Set: p != jsonobj.Absent, Null: p == jsonobj.Null, V: s}
}

// boolean reads a boolean member with its three states.
func (m *members) boolean(key string) wire.Opt[bool] {
	raw, p := m.o.Get(key)
	if m.err != nil || p != jsonobj.Present {
		return wire.Opt[bool]{Set: p != jsonobj.Absent, Null: p == jsonobj.Null}
	}
	b, err := jsonobj.Bool(m.o.At(key), raw)
	m.err = err
	return wire.Opt[bool]{Set: true, V: b}
}

// raw reads a member decoded on its own: nil when absent, null kept.
func (m *members) raw(key string) json.RawMessage {
	raw, p := m.o.Get(key)
	if p == jsonobj.Absent {
		return nil
	}
	return raw
}

func (m *members) done() error {
	if m.err != nil {
		return m.err
	}
	return m.o.Finish()
}

// required returns the value of a required string field, rejecting absence,
// null and the empty string.
func required(path string, o wire.Opt[string]) (string, error) {
	if !o.Set || o.Null {
		return "", errdefs.Invalid("%s: field required", path)
	}
	if o.V == "" {
		return "", errdefs.Invalid("%s: must not be empty", path)
	}
	return o.V, nil
}

// requiredURL is required followed by checkURL.
func requiredURL(path string, o wire.Opt[string]) (string, error) {
	v, err := required(path, o)
	if err != nil {
		return "", err
	}
	return v, checkURL(path, v)
}

// replace stores the new value of an optional secret or setting on update
// in *dst; an omitted one leaves *dst alone, null and "" are errors.
func replace(dst *string, path string, o wire.Opt[string]) error {
	if !o.Set {
		return nil
	}
	if o.Null {
		return errdefs.Invalid("%s: must not be null", path)
	}
	if o.V == "" {
		return errdefs.Invalid("%s: must not be empty", path)
	}
	*dst = o.V
	return nil
}

// immutable accepts a resent key field only when it is unchanged.
func immutable(path string, o wire.Opt[string], stored string) error {
	if o.Set && (o.Null || o.V != stored) {
		return errdefs.Invalid("%s: cannot be changed; archive this credential and create a new one", path)
	}
	return nil
}

// checkURL accepts absolute http(s) URLs. Credentials in the URL itself are
// refused: the URL is returned in responses, so it must not carry a secret.
func checkURL(path, s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return errdefs.Invalid("%s: must be an absolute http or https URL", path)
	}
	if sch := strings.ToLower(u.Scheme); sch != "http" && sch != "https" {
		return errdefs.Invalid("%s: scheme must be http or https", path)
	}
	if u.User != nil {
		return errdefs.Invalid("%s: must not contain user credentials", path)
	}
	return nil
}

// parseExpiry reads an RFC 3339 expires_at, which must be in the future.
func parseExpiry(path, s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errdefs.Invalid("%s: must be an RFC 3339 timestamp", path)
	}
	t = t.UTC().Truncate(time.Microsecond)
	if !t.After(now) {
		return time.Time{}, errdefs.Invalid("%s: must be in the future", path)
	}
	return t, nil
}

// checkSecretName accepts portable environment variable names.
func checkSecretName(path, s string) error {
	if len(s) > maxSecretName {
		return errdefs.Invalid("%s: must be at most %d characters", path, maxSecretName)
	}
	for i, c := range s {
		if c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return errdefs.Invalid("%s: must be an environment variable name (letters, digits and _, not starting with a digit)", path)
	}
	return nil
}

// checkHost accepts what allowed_hosts documents: a bare hostname, an IPv4
// address or a "*." wildcard; no URLs, ports, paths or IPv6.
func checkHost(path, h string) error {
	switch {
	case h == "":
		return errdefs.Invalid("%s: must not be empty", path)
	case strings.Contains(h, "/"):
		return errdefs.Invalid("%s: must be a bare hostname, IPv4 address or *. wildcard, not a URL or path", path)
	case strings.Contains(h, ":"):
		return errdefs.Invalid("%s: ports and IPv6 addresses are not accepted", path)
	}
	name := h
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		name = rest
	}
	if strings.Contains(name, "*") {
		return errdefs.Invalid("%s: a wildcard is only allowed as a leading \"*.\"", path)
	}
	if ip := net.ParseIP(name); ip != nil {
		if name != h {
			return errdefs.Invalid("%s: a wildcard cannot precede an IP address", path)
		}
		return nil
	}
	if !validHostname(name) {
		return errdefs.Invalid("%s: %q is not a valid hostname", path, h)
	}
	return nil
}

func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
				return false
			}
		}
	}
	// An all-numeric top label is a malformed IPv4 address, not a name.
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

func decodeNetworking(path string, raw json.RawMessage) (wire.CredentialNetworking, error) {
	if jsonobj.IsNull(raw) {
		return wire.CredentialNetworking{}, errdefs.Invalid("%s: must not be null", path)
	}
	m, t, err := union(path, raw, wire.CredentialNetworkingUnrestricted, wire.CredentialNetworkingLimited)
	if err != nil {
		return wire.CredentialNetworking{}, err
	}
	p := wire.CredentialNetworkingParams{AllowedHosts: m.raw("allowed_hosts")}
	if err := m.done(); err != nil {
		return wire.CredentialNetworking{}, err
	}
	n := wire.CredentialNetworking{Type: t}
	if t == wire.CredentialNetworkingUnrestricted {
		if p.AllowedHosts != nil {
			return n, errdefs.Invalid("%s.allowed_hosts: only allowed with type \"limited\"", path)
		}
		return n, nil
	}
	hp := path + ".allowed_hosts"
	if p.AllowedHosts == nil || jsonobj.IsNull(p.AllowedHosts) {
		return n, errdefs.Invalid("%s: field required", hp)
	}
	hosts, err := jsonobj.Strings(hp, p.AllowedHosts)
	if err != nil {
		return n, errdefs.Invalid("%s: expected an array of strings", hp)
	}
	if len(hosts) == 0 {
		return n, errdefs.Invalid("%s: must contain at least one host", hp)
	}
	if len(hosts) > maxAllowedHosts {
		return n, errdefs.Invalid("%s: at most %d entries are allowed, got %d", hp, maxAllowedHosts, len(hosts))
	}
	for i, h := range hosts {
		if err := checkHost(jsonobj.Index(hp, i), h); err != nil {
			return n, err
		}
	}
	n.AllowedHosts = hosts
	return n, nil
}

// decodeInjection applies an injection_location object to base: on create
// base is all-false so that omitted fields turn off; on update base
// is the stored value so that fields merge one by one. Null, for
// the object or a field, and both locations off are rejected.
func decodeInjection(path string, raw json.RawMessage, base wire.InjectionLocation) (wire.InjectionLocation, error) {
	if jsonobj.IsNull(raw) {
		return base, errdefs.Invalid("%s: must not be null", path)
	}
	m, err := object(path, raw)
	if err != nil {
		return base, err
	}
	p := wire.InjectionLocationParams{Body: m.boolean("body"), Header: m.boolean("header")}
	if err := m.done(); err != nil {
		return base, err
	}
	out := base
	for _, f := range []struct {
		name string
		o    wire.Opt[bool]
		dst  *bool
	}{{"body", p.Body, &out.Body}, {"header", p.Header, &out.Header}} {
		if !f.o.Set {
			continue
		}
		if f.o.Null {
			return base, errdefs.Invalid("%s.%s: must not be null", path, f.name)
		}
		*f.dst = f.o.V
	}
	if !out.Body && !out.Header {
		return base, errdefs.Invalid("%s: at least one of header and body must be enabled", path)
	}
	return out, nil
}

// decodeTokenEndpointAuth reads token_endpoint_auth on create.
func decodeTokenEndpointAuth(path string, raw json.RawMessage) (string, string, error) {
	if raw == nil || jsonobj.IsNull(raw) {
		return "", "", errdefs.Invalid("%s: field required", path)
	}
	m, t, err := union(path, raw, wire.TokenEndpointAuthNone, wire.TokenEndpointAuthClientSecretBasic, wire.TokenEndpointAuthClientSecretPost)
	if err != nil {
		return "", "", err
	}
	p := wire.TokenEndpointAuthParams{ClientSecret: m.str("client_secret")}
	if err := m.done(); err != nil {
		return "", "", err
	}
	if t == wire.TokenEndpointAuthNone {
		if p.ClientSecret.Set {
			return "", "", errdefs.Invalid("%s.client_secret: not allowed with type \"none\"", path)
		}
		return t, "", nil
	}
	secret, err := required(path+".client_secret", p.ClientSecret)
	return t, secret, err
}

// decodeCreateAuth decodes and validates a create body's auth.
func decodeCreateAuth(raw json.RawMessage, now time.Time) (wire.CredentialAuth, vault.Secret, error) {
	var a wire.CredentialAuth
	var sec vault.Secret
	if raw == nil || jsonobj.IsNull(raw) {
		return a, sec, errdefs.Invalid("auth: field required")
	}
	m, t, err := union("auth", raw, wire.CredentialMCPOAuth, wire.CredentialStaticBearer, wire.CredentialEnvironmentVariable)
	if err != nil {
		return a, sec, err
	}
	a.Type = t
	switch t {
	case wire.CredentialMCPOAuth:
		p := wire.MCPOAuthCreateParams{
			AccessToken: m.str("access_token"), MCPServerURL: m.str("mcp_server_url"),
			ExpiresAt: m.str("expires_at"), Refresh: m.raw("refresh"),
		}
		if err := m.done(); err != nil {
			return a, sec, err
		}
		if a.MCPServerURL, err = requiredURL("auth.mcp_server_url", p.MCPServerURL); err != nil {
			return a, sec, err
		}
		if sec.AccessToken, err = required("auth.access_token", p.AccessToken); err != nil {
			return a, sec, err
		}
		if v, ok := p.ExpiresAt.Value(); ok {
			exp, err := parseExpiry("auth.expires_at", v, now)
			if err != nil {
				return a, sec, err
			}
			a.ExpiresAt = &exp
		}
		if p.Refresh != nil && !jsonobj.IsNull(p.Refresh) {
			if a.Refresh, err = decodeRefreshCreate(p.Refresh, &sec); err != nil {
				return a, sec, err
			}
		}
	case wire.CredentialStaticBearer:
		p := wire.StaticBearerParams{Token: m.str("token"), MCPServerURL: m.str("mcp_server_url")}
		if err := m.done(); err != nil {
			return a, sec, err
		}
		if a.MCPServerURL, err = requiredURL("auth.mcp_server_url", p.MCPServerURL); err != nil {
			return a, sec, err
		}
		if sec.Token, err = required("auth.token", p.Token); err != nil {
			return a, sec, err
		}
	case wire.CredentialEnvironmentVariable:
		p := wire.EnvironmentVariableParams{
			SecretName: m.str("secret_name"), SecretValue: m.str("secret_value"),
			Networking: m.raw("networking"), InjectionLocation: m.raw("injection_location"),
		}
		if err := m.done(); err != nil {
			return a, sec, err
		}
		if a.SecretName, err = required("auth.secret_name", p.SecretName); err != nil {
			return a, sec, err
		}
		if err := checkSecretName("auth.secret_name", a.SecretName); err != nil {
			return a, sec, err
		}
		if sec.Value, err = required("auth.secret_value", p.SecretValue); err != nil {
			return a, sec, err
		}
		if p.Networking == nil {
			return a, sec, errdefs.Invalid("auth.networking: field required")
		}
		if a.Networking, err = decodeNetworking("auth.networking", p.Networking); err != nil {
			return a, sec, err
		}
		a.InjectionLocation = wire.InjectionLocation{Body: true, Header: true}
		if p.InjectionLocation != nil {
			if a.InjectionLocation, err = decodeInjection("auth.injection_location", p.InjectionLocation, wire.InjectionLocation{}); err != nil {
				return a, sec, err
			}
		}
	}
	return a, sec, nil
}

func decodeRefreshCreate(raw json.RawMessage, sec *vault.Secret) (*wire.MCPOAuthRefresh, error) {
	const path = "auth.refresh"
	m, err := object(path, raw)
	if err != nil {
		return nil, err
	}
	p := wire.MCPOAuthRefreshParams{
		ClientID: m.str("client_id"), RefreshToken: m.str("refresh_token"), TokenEndpoint: m.str("token_endpoint"),
		TokenEndpointAuth: m.raw("token_endpoint_auth"), Resource: m.str("resource"), Scope: m.str("scope"),
	}
	if err := m.done(); err != nil {
		return nil, err
	}
	r := &wire.MCPOAuthRefresh{}
	if r.ClientID, err = required(path+".client_id", p.ClientID); err != nil {
		return nil, err
	}
	if sec.RefreshToken, err = required(path+".refresh_token", p.RefreshToken); err != nil {
		return nil, err
	}
	if r.TokenEndpoint, err = requiredURL(path+".token_endpoint", p.TokenEndpoint); err != nil {
		return nil, err
	}
	if r.TokenEndpointAuth.Type, sec.ClientSecret, err = decodeTokenEndpointAuth(path+".token_endpoint_auth", p.TokenEndpointAuth); err != nil {
		return nil, err
	}
	if v, ok := p.Resource.Value(); ok && v != "" {
		if err := checkURL(path+".resource", v); err != nil {
			return nil, err
		}
		r.Resource = &v
	}
	if v, ok := p.Scope.Value(); ok && v != "" {
		r.Scope = &v
	}
	return r, nil
}

// decodeUpdateAuth applies an update body's auth to the stored auth and
// secret, returning the new ones; cur and sec are not modified. The type
// cannot change and the key fields are immutable; secrets,
// expires_at, scope, networking and injection_location can.
func decodeUpdateAuth(raw json.RawMessage, cur wire.CredentialAuth, sec vault.Secret, now time.Time) (wire.CredentialAuth, vault.Secret, error) {
	a := cur
	if jsonobj.IsNull(raw) {
		return a, sec, errdefs.Invalid("auth: must not be null")
	}
	m, t, err := union("auth", raw, wire.CredentialMCPOAuth, wire.CredentialStaticBearer, wire.CredentialEnvironmentVariable)
	if err != nil {
		return a, sec, err
	}
	if t != cur.Type {
		return a, sec, errdefs.Invalid("auth.type: the credential's type is %q and cannot be changed to %q", cur.Type, t)
	}
	switch t {
	case wire.CredentialMCPOAuth:
		p := wire.MCPOAuthUpdateParams{
			AccessToken: m.str("access_token"), ExpiresAt: m.str("expires_at"),
			Refresh: m.raw("refresh"), MCPServerURL: m.str("mcp_server_url"),
		}
		if err := m.done(); err != nil {
			return a, sec, err
		}
		if err := immutable("auth.mcp_server_url", p.MCPServerURL, cur.MCPServerURL); err != nil {
			return a, sec, err
		}
		if err := replace(&sec.AccessToken, "auth.access_token", p.AccessToken); err != nil {
			return a, sec, err
		}
		if p.ExpiresAt.Set {
			if p.ExpiresAt.Null {
				a.ExpiresAt = nil
			} else {
				exp, err := parseExpiry("auth.expires_at", p.ExpiresAt.V, now)
				if err != nil {
					return a, sec, err
				}
				a.ExpiresAt = &exp
			}
		}
		if p.Refresh != nil {
			if err := applyRefreshUpdate(p.Refresh, &a, &sec); err != nil {
				return a, sec, err
			}
		}
	case wire.CredentialStaticBearer:
		p := wire.StaticBearerParams{Token: m.str("token"), MCPServerURL: m.str("mcp_server_url")}
		if err := m.done(); err != nil {
			return a, sec, err
		}
		if err := immutable("auth.mcp_server_url", p.MCPServerURL, cur.MCPServerURL); err != nil {
			return a, sec, err
		}
		if err := replace(&sec.Token, "auth.token", p.Token); err != nil {
			return a, sec, err
		}
	case wire.CredentialEnvironmentVariable:
		p := wire.EnvironmentVariableParams{
			SecretName: m.str("secret_name"), SecretValue: m.str("secret_value"),
			Networking: m.raw("networking"), InjectionLocation: m.raw("injection_location"),
		}
		if err := m.done(); err != nil {
			return a, sec, err
		}
		if err := immutable("auth.secret_name", p.SecretName, cur.SecretName); err != nil {
			return a, sec, err
		}
		if err := replace(&sec.Value, "auth.secret_value", p.SecretValue); err != nil {
			return a, sec, err
		}
		if p.Networking != nil {
			// Networking is replaced as a whole, never merged.
			if a.Networking, err = decodeNetworking("auth.networking", p.Networking); err != nil {
				return a, sec, err
			}
		}
		if p.InjectionLocation != nil {
			if a.InjectionLocation, err = decodeInjection("auth.injection_location", p.InjectionLocation, cur.InjectionLocation); err != nil {
				return a, sec, err
			}
		}
	}
	return a, sec, nil
}

func applyRefreshUpdate(raw json.RawMessage, a *wire.CredentialAuth, sec *vault.Secret) error {
	const path = "auth.refresh"
	if jsonobj.IsNull(raw) {
		return errdefs.Invalid("%s: must not be null", path)
	}
	m, err := object(path, raw)
	if err != nil {
		return err
	}
	p := wire.MCPOAuthRefreshUpdateParams{
		RefreshToken: m.str("refresh_token"), Scope: m.str("scope"), TokenEndpointAuth: m.raw("token_endpoint_auth"),
		ClientID: m.str("client_id"), TokenEndpoint: m.str("token_endpoint"), Resource: m.str("resource"),
	}
	if err := m.done(); err != nil {
		return err
	}
	if a.Refresh == nil {
		return errdefs.Invalid("%s: the credential has no refresh configuration to update; archive it and create a new one with refresh", path)
	}
	r := *a.Refresh
	if err := immutable(path+".client_id", p.ClientID, r.ClientID); err != nil {
		return err
	}
	if err := immutable(path+".token_endpoint", p.TokenEndpoint, r.TokenEndpoint); err != nil {
		return err
	}
	var resource string
	if r.Resource != nil {
		resource = *r.Resource
	}
	if err := immutable(path+".resource", p.Resource, resource); err != nil {
		return err
	}
	if err := replace(&sec.RefreshToken, path+".refresh_token", p.RefreshToken); err != nil {
		return err
	}
	if p.Scope.Set {
		// An empty string (or null) clears the stored scope.
		if v := p.Scope.V; p.Scope.Null || v == "" {
			r.Scope = nil
		} else {
			r.Scope = &v
		}
	}
	if p.TokenEndpointAuth != nil {
		ap := path + ".token_endpoint_auth"
		if jsonobj.IsNull(p.TokenEndpointAuth) {
			return errdefs.Invalid("%s: must not be null", ap)
		}
		// The union only offers the two secret-carrying variants: the
		// method itself cannot change, only its client secret.
		tm, _, err := union(ap, p.TokenEndpointAuth, wire.TokenEndpointAuthClientSecretBasic, wire.TokenEndpointAuthClientSecretPost)
		if err != nil {
			return err
		}
		tp := wire.TokenEndpointAuthParams{ClientSecret: tm.str("client_secret")}
		if err := tm.done(); err != nil {
			return err
		}
		if r.TokenEndpointAuth.Type == wire.TokenEndpointAuthNone {
			return errdefs.Invalid("%s: the credential uses token endpoint auth \"none\", which has no client secret", ap)
		}
		if err := replace(&sec.ClientSecret, ap+".client_secret", tp.ClientSecret); err != nil {
			return err
		}
	}
	a.Refresh = &r
	return nil
}

// credentialKey is the credential's unique key among its
// vault's active credentials, stored as the record name. mcp_oauth and static_bearer share the
// mcp_server_url namespace: one credential per MCP server.
func credentialKey(a wire.CredentialAuth) string {
	if a.Type == wire.CredentialEnvironmentVariable {
		return "env:" + a.SecretName
	}
	return "mcp:" + a.MCPServerURL
}

// describeKey names the key field and value for conflict messages.
func describeKey(a wire.CredentialAuth) (field, value string) {
	if a.Type == wire.CredentialEnvironmentVariable {
		return "auth.secret_name", a.SecretName
	}
	return "auth.mcp_server_url", a.MCPServerURL
}
