package wire

import (
	"encoding/json"
	"time"
)

// Environment config and networking discriminators.
const (
	EnvironmentConfigCloud      = "cloud"
	EnvironmentConfigSelfHosted = "self_hosted"

	NetworkingUnrestricted = "unrestricted"
	NetworkingLimited      = "limited"

	EnvironmentScopeOrganization = "organization"
	EnvironmentScopeAccount      = "account"
)

// Environment is the environment object. The SDK types its timestamps as
// plain strings; they are still sent as RFC 3339.
type Environment struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	Name        string            `json:"name"`
	Description *string           `json:"description"`
	Config      EnvironmentConfig `json:"config"`
	Metadata    Metadata          `json:"metadata"`
	Scope       string            `json:"scope"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ArchivedAt  *time.Time        `json:"archived_at"`
}

// EnvironmentConfig is the config union as returned: a self_hosted config is
// exactly {"type":"self_hosted"}; a cloud config always carries networking
// and packages.
type EnvironmentConfig struct {
	Type       string
	Networking Networking
	Packages   Packages
}

func (c EnvironmentConfig) MarshalJSON() ([]byte, error) {
	if c.Type != EnvironmentConfigCloud {
		return json.Marshal(struct {
			Type string `json:"type"`
		}{c.Type})
	}
	return json.Marshal(struct {
		Type       string     `json:"type"`
		Networking Networking `json:"networking"`
		Packages   Packages   `json:"packages"`
	}{c.Type, c.Networking, c.Packages})
}

func (c *EnvironmentConfig) UnmarshalJSON(b []byte) error {
	var v struct {
		Type       string     `json:"type"`
		Networking Networking `json:"networking"`
		Packages   Packages   `json:"packages"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*c = EnvironmentConfig(v)
	return nil
}

// Networking is the cloud networking union: {"type":"unrestricted"} or a
// limited policy that always carries all three of its fields.
type Networking struct {
	Type                 string
	AllowedHosts         []string
	AllowMCPServers      bool
	AllowPackageManagers bool
}

func (n Networking) MarshalJSON() ([]byte, error) {
	if n.Type != NetworkingLimited {
		return json.Marshal(struct {
			Type string `json:"type"`
		}{n.Type})
	}
	hosts := n.AllowedHosts
	if hosts == nil {
		hosts = []string{}
	}
	return json.Marshal(struct {
		Type                 string   `json:"type"`
		AllowedHosts         []string `json:"allowed_hosts"`
		AllowMCPServers      bool     `json:"allow_mcp_servers"`
		AllowPackageManagers bool     `json:"allow_package_managers"`
	}{n.Type, hosts, n.AllowMCPServers, n.AllowPackageManagers})
}

func (n *Networking) UnmarshalJSON(b []byte) error {
	var v struct {
		Type                 string   `json:"type"`
		AllowedHosts         []string `json:"allowed_hosts"`
		AllowMCPServers      bool     `json:"allow_mcp_servers"`
		AllowPackageManagers bool     `json:"allow_package_managers"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*n = Networking(v)
	return nil
}

// Packages lists what a cloud container preinstalls, per package manager,
// stored as given. Every list is always sent, as [] when empty.
type Packages struct {
	Apt   []string
	Cargo []string
	Gem   []string
	Go    []string
	Npm   []string
	Pip   []string
}

// PackageManagers are the keys of a packages object, in wire order.
var PackageManagers = []string{"apt", "cargo", "gem", "go", "npm", "pip"}

// List returns the list of one manager (nil for an unknown name), so callers
// can walk the managers by name.
func (p *Packages) List(manager string) *[]string {
	switch manager {
	case "apt":
		return &p.Apt
	case "cargo":
		return &p.Cargo
	case "gem":
		return &p.Gem
	case "go":
		return &p.Go
	case "npm":
		return &p.Npm
	case "pip":
		return &p.Pip
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (p Packages) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type  string   `json:"type"`
		Apt   []string `json:"apt"`
		Cargo []string `json:"cargo"`
		Gem   []string `json:"gem"`
		Go    []string `json:"go"`
		Npm   []string `json:"npm"`
		Pip   []string `json:"pip"`
	}{"packages", nonNil(p.Apt), nonNil(p.Cargo), nonNil(p.Gem), nonNil(p.Go), nonNil(p.Npm), nonNil(p.Pip)})
}

func (p *Packages) UnmarshalJSON(b []byte) error {
	var v struct {
		Apt   []string `json:"apt"`
		Cargo []string `json:"cargo"`
		Gem   []string `json:"gem"`
		Go    []string `json:"go"`
		Npm   []string `json:"npm"`
		Pip   []string `json:"pip"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = Packages(v)
	return nil
}

// EnvironmentCreateParams is the create body. Config is kept raw because it
// is a union whose errors must name nested fields; the handler parses it.
type EnvironmentCreateParams struct {
	Name        Opt[string]          `json:"name"`
	Description Opt[string]          `json:"description"`
	Config      Opt[json.RawMessage] `json:"config"`
	Scope       Opt[string]          `json:"scope"`
	Metadata    Opt[Metadata]        `json:"metadata"`
}

// EnvironmentUpdateParams is the update body. Metadata is a patch in which
// null or "" deletes a key.
type EnvironmentUpdateParams struct {
	Name        Opt[string]          `json:"name"`
	Description Opt[string]          `json:"description"`
	Config      Opt[json.RawMessage] `json:"config"`
	Scope       Opt[string]          `json:"scope"`
	Metadata    Opt[MetadataPatch]   `json:"metadata"`
}
