package wire

import (
	"encoding/json"
	"time"
)

// Object type constants of vaults and their credentials.
const (
	TypeVault                     = "vault"
	TypeVaultDeleted              = "vault_deleted"
	TypeVaultCredential           = "vault_credential"
	TypeVaultCredentialDeleted    = "vault_credential_deleted"
	TypeVaultCredentialValidation = "vault_credential_validation"
)

// Credential auth discriminators.
const (
	CredentialMCPOAuth            = "mcp_oauth"
	CredentialStaticBearer        = "static_bearer"
	CredentialEnvironmentVariable = "environment_variable"
)

// Credential networking discriminators (environment_variable credentials).
const (
	CredentialNetworkingUnrestricted = "unrestricted"
	CredentialNetworkingLimited      = "limited"
)

// Token endpoint client authentication methods (mcp_oauth refresh).
const (
	TokenEndpointAuthNone              = "none"
	TokenEndpointAuthClientSecretBasic = "client_secret_basic"
	TokenEndpointAuthClientSecretPost  = "client_secret_post"
)

// Credential validation verdicts and refresh outcomes.
const (
	ValidationValid   = "valid"
	ValidationInvalid = "invalid"
	ValidationUnknown = "unknown"

	RefreshSucceeded      = "succeeded"
	RefreshFailed         = "failed"
	RefreshConnectError   = "connect_error"
	RefreshNoRefreshToken = "no_refresh_token"
)

// Vault is the vault object (MA.Vault).
type Vault struct {
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	DisplayName string     `json:"display_name"`
	Metadata    Metadata   `json:"metadata"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ArchivedAt  *time.Time `json:"archived_at"`
}

// VaultCreateParams is the body of POST /v1/vaults.
type VaultCreateParams struct {
	DisplayName Opt[string]       `json:"display_name"`
	Metadata    map[string]string `json:"metadata"`
}

// VaultUpdateParams is the body of POST /v1/vaults/{id}.
type VaultUpdateParams struct {
	DisplayName Opt[string]   `json:"display_name"`
	Metadata    MetadataPatch `json:"metadata"`
}

// Credential is the vault credential object (MA.Credential). It holds no
// secret: those live sealed in the store record, apart from the object.
type Credential struct {
	ID          string         `json:"id"`
	Type        string         `json:"type"`
	VaultID     string         `json:"vault_id"`
	DisplayName *string        `json:"display_name"`
	Metadata    Metadata       `json:"metadata"`
	Auth        CredentialAuth `json:"auth"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	ArchivedAt  *time.Time     `json:"archived_at"`
}

// CredentialAuth is the auth union as returned. Only the fields of the
// variant named by Type are sent, each variant with all of its keys.
type CredentialAuth struct {
	Type string
	// mcp_oauth and static_bearer.
	MCPServerURL string
	// mcp_oauth.
	ExpiresAt *time.Time
	Refresh   *MCPOAuthRefresh
	// environment_variable.
	SecretName        string
	Networking        CredentialNetworking
	InjectionLocation InjectionLocation
}

type mcpOAuthAuthJSON struct {
	Type         string           `json:"type"`
	MCPServerURL string           `json:"mcp_server_url"`
	ExpiresAt    *time.Time       `json:"expires_at"`
	Refresh      *MCPOAuthRefresh `json:"refresh"`
}

type staticBearerAuthJSON struct {
	Type         string `json:"type"`
	MCPServerURL string `json:"mcp_server_url"`
}

type envVarAuthJSON struct {
	Type              string               `json:"type"`
	SecretName        string               `json:"secret_name"`
	Networking        CredentialNetworking `json:"networking"`
	InjectionLocation InjectionLocation    `json:"injection_location"`
}

func (a CredentialAuth) MarshalJSON() ([]byte, error) {
	switch a.Type {
	case CredentialMCPOAuth:
		return json.Marshal(mcpOAuthAuthJSON{a.Type, a.MCPServerURL, a.ExpiresAt, a.Refresh})
	case CredentialStaticBearer:
		return json.Marshal(staticBearerAuthJSON{a.Type, a.MCPServerURL})
	default:
		return json.Marshal(envVarAuthJSON{a.Type, a.SecretName, a.Networking, a.InjectionLocation})
	}
}

func (a *CredentialAuth) UnmarshalJSON(b []byte) error {
	var v struct {
		Type              string               `json:"type"`
		MCPServerURL      string               `json:"mcp_server_url"`
		ExpiresAt         *time.Time           `json:"expires_at"`
		Refresh           *MCPOAuthRefresh     `json:"refresh"`
		SecretName        string               `json:"secret_name"`
		Networking        CredentialNetworking `json:"networking"`
		InjectionLocation InjectionLocation    `json:"injection_location"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = CredentialAuth(v)
	return nil
}

// MCPOAuthRefresh is the non-secret part of an mcp_oauth refresh
// configuration. The refresh token and client secret are sealed.
type MCPOAuthRefresh struct {
	ClientID          string            `json:"client_id"`
	TokenEndpoint     string            `json:"token_endpoint"`
	TokenEndpointAuth TokenEndpointAuth `json:"token_endpoint_auth"`
	Resource          *string           `json:"resource"`
	Scope             *string           `json:"scope"`
}

// TokenEndpointAuth is the response form of token_endpoint_auth: its type
// only, never the client secret.
type TokenEndpointAuth struct {
	Type string `json:"type"`
}

// CredentialNetworking says on which hosts an environment_variable secret is
// substituted: {"type":"unrestricted"} or {"type":"limited","allowed_hosts":[…]}.
type CredentialNetworking struct {
	Type         string
	AllowedHosts []string
}

func (n CredentialNetworking) MarshalJSON() ([]byte, error) {
	if n.Type != CredentialNetworkingLimited {
		return json.Marshal(struct {
			Type string `json:"type"`
		}{n.Type})
	}
	hosts := n.AllowedHosts
	if hosts == nil {
		hosts = []string{}
	}
	return json.Marshal(struct {
		Type         string   `json:"type"`
		AllowedHosts []string `json:"allowed_hosts"`
	}{n.Type, hosts})
}

func (n *CredentialNetworking) UnmarshalJSON(b []byte) error {
	var v struct {
		Type         string   `json:"type"`
		AllowedHosts []string `json:"allowed_hosts"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*n = CredentialNetworking(v)
	return nil
}

// InjectionLocation is where an environment_variable placeholder is
// replaced by the secret at egress; responses always show both resolved.
type InjectionLocation struct {
	Body   bool `json:"body"`
	Header bool `json:"header"`
}

// CredentialCreateParams is the body of POST /v1/vaults/{id}/credentials.
// Auth is a union decoded (and validated) by the vaults API package.
type CredentialCreateParams struct {
	Auth        json.RawMessage   `json:"auth"`
	DisplayName Opt[string]       `json:"display_name"`
	Metadata    map[string]string `json:"metadata"`
}

// CredentialUpdateParams is the body of POST …/credentials/{id}.
type CredentialUpdateParams struct {
	Auth        json.RawMessage `json:"auth"`
	DisplayName Opt[string]     `json:"display_name"`
	Metadata    MetadataPatch   `json:"metadata"`
}

// MCPOAuthCreateParams is auth of type mcp_oauth on create.
type MCPOAuthCreateParams struct {
	Type         string          `json:"type"`
	AccessToken  Opt[string]     `json:"access_token"`
	MCPServerURL Opt[string]     `json:"mcp_server_url"`
	ExpiresAt    Opt[string]     `json:"expires_at"`
	Refresh      json.RawMessage `json:"refresh"`
}

// MCPOAuthRefreshParams is mcp_oauth's refresh block on create.
type MCPOAuthRefreshParams struct {
	ClientID          Opt[string]     `json:"client_id"`
	RefreshToken      Opt[string]     `json:"refresh_token"`
	TokenEndpoint     Opt[string]     `json:"token_endpoint"`
	TokenEndpointAuth json.RawMessage `json:"token_endpoint_auth"`
	Resource          Opt[string]     `json:"resource"`
	Scope             Opt[string]     `json:"scope"`
}

// TokenEndpointAuthParams is any token_endpoint_auth variant in a request:
// none has only the type; the secret variants carry client_secret.
type TokenEndpointAuthParams struct {
	Type         string      `json:"type"`
	ClientSecret Opt[string] `json:"client_secret"`
}

// MCPOAuthUpdateParams is auth of type mcp_oauth on update. MCPServerURL is
// accepted only to give an immutable-field error that names it.
type MCPOAuthUpdateParams struct {
	Type         string          `json:"type"`
	AccessToken  Opt[string]     `json:"access_token"`
	ExpiresAt    Opt[string]     `json:"expires_at"`
	Refresh      json.RawMessage `json:"refresh"`
	MCPServerURL Opt[string]     `json:"mcp_server_url"`
}

// MCPOAuthRefreshUpdateParams is mcp_oauth's refresh block on update.
// ClientID, TokenEndpoint and Resource are immutable, accepted only to name
// them in the error when they differ.
type MCPOAuthRefreshUpdateParams struct {
	RefreshToken      Opt[string]     `json:"refresh_token"`
	Scope             Opt[string]     `json:"scope"`
	TokenEndpointAuth json.RawMessage `json:"token_endpoint_auth"`
	ClientID          Opt[string]     `json:"client_id"`
	TokenEndpoint     Opt[string]     `json:"token_endpoint"`
	Resource          Opt[string]     `json:"resource"`
}

// StaticBearerParams is auth of type static_bearer on create and update.
type StaticBearerParams struct {
	Type         string      `json:"type"`
	Token        Opt[string] `json:"token"`
	MCPServerURL Opt[string] `json:"mcp_server_url"`
}

// EnvironmentVariableParams is auth of type environment_variable on create
// and update.
type EnvironmentVariableParams struct {
	Type              string          `json:"type"`
	SecretName        Opt[string]     `json:"secret_name"`
	SecretValue       Opt[string]     `json:"secret_value"`
	Networking        json.RawMessage `json:"networking"`
	InjectionLocation json.RawMessage `json:"injection_location"`
}

// CredentialNetworkingParams is any networking variant in a request.
type CredentialNetworkingParams struct {
	Type         string          `json:"type"`
	AllowedHosts json.RawMessage `json:"allowed_hosts"`
}

// InjectionLocationParams is injection_location in a request; an explicit
// null for either field is an error, so both keep their three states.
type InjectionLocationParams struct {
	Body   Opt[bool] `json:"body"`
	Header Opt[bool] `json:"header"`
}

// CredentialValidation is the result of mcp_oauth_validate
// (MA.CredentialValidation).
type CredentialValidation struct {
	Type            string             `json:"type"`
	CredentialID    string             `json:"credential_id"`
	VaultID         string             `json:"vault_id"`
	Status          string             `json:"status"`
	HasRefreshToken bool               `json:"has_refresh_token"`
	MCPProbe        *MCPProbe          `json:"mcp_probe"`
	Refresh         *CredentialRefresh `json:"refresh"`
	ValidatedAt     time.Time          `json:"validated_at"`
}

// MCPProbe describes the MCP probe step that failed.
type MCPProbe struct {
	Method       string        `json:"method"`
	HTTPResponse *HTTPResponse `json:"http_response"`
}

// CredentialRefresh is the outcome of a refresh-token exchange
// (MA.RefreshObject).
type CredentialRefresh struct {
	Status       string        `json:"status"`
	HTTPResponse *HTTPResponse `json:"http_response"`
}

// HTTPResponse is a captured (scrubbed, possibly truncated) error response
// of a remote endpoint (MA.RefreshHTTPResponse).
type HTTPResponse struct {
	StatusCode    int    `json:"status_code"`
	ContentType   string `json:"content_type"`
	Body          string `json:"body"`
	BodyTruncated bool   `json:"body_truncated"`
}
