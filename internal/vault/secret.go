package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// Secret is the write-only part of a vault credential, kept sealed in the
// credential's store record. Which fields are set depends on the auth type.
type Secret struct {
	// Token is a static_bearer token.
	Token string `json:"token,omitempty"`
	// AccessToken, RefreshToken and ClientSecret belong to mcp_oauth.
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// Value is an environment_variable secret_value.
	Value string `json:"value,omitempty"`
}

// String, GoString and LogValue keep a Secret that reaches a formatter or a
// logger by mistake from printing its contents.
func (Secret) String() string               { return "vault.Secret{redacted}" }
func (Secret) GoString() string             { return "vault.Secret{redacted}" }
func (Secret) LogValue() slog.Value         { return slog.StringValue("redacted") }
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// SealSecret encrypts sec for the credential id (its aad), so a sealed
// secret copied onto another credential does not open.
func (s *Sealer) SealSecret(credentialID string, sec Secret) ([]byte, error) {
	b, err := json.Marshal(sec)
	if err != nil {
		return nil, fmt.Errorf("encode secret: %w", err)
	}
	return s.Seal(b, []byte(credentialID)), nil
}

// OpenSecret decrypts what SealSecret produced for the same credential id.
func (s *Sealer) OpenSecret(credentialID string, sealed []byte) (Secret, error) {
	var sec Secret
	if len(sealed) == 0 {
		return sec, errors.New("credential has no stored secret")
	}
	b, err := s.Open(sealed, []byte(credentialID))
	if err != nil {
		return sec, fmt.Errorf("open secret of %s: %w", credentialID, err)
	}
	if err := json.Unmarshal(b, &sec); err != nil {
		return sec, fmt.Errorf("decode secret of %s: %w", credentialID, err)
	}
	return sec, nil
}
