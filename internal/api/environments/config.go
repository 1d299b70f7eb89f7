package environments

import (
	"encoding/json"
	"net/netip"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/jsonobj"
	"github.com/hangarhq/hangar/internal/wire"
)

// Limits the spec leaves open; generous enough for real use,
// small enough that one environment cannot bloat every session that uses it.
const (
	maxName         = 256
	maxDescription  = 2048
	maxAllowedHosts = 256
	maxHostLen      = 253
	maxPackages     = 256
	maxPackageLen   = 256
)

// configPatch is a parsed config object. Omitted (or null) fields are nil so
// that an update keeps the stored value, as the spec requires for config.
type configPatch struct {
	Type       string
	Networking *networkingPatch
	// Packages holds the managers that were sent; nil when packages was
	// omitted altogether.
	Packages map[string][]string
}

type networkingPatch struct {
	Type                 string
	AllowedHosts         *[]string
	AllowMCPServers      *bool
	AllowPackageManagers *bool
}

// members reads the object at path and returns its non-null members.
// Unknown members are rejected before any value is looked at, so a typo
// is reported even when another member is also wrong.
func members(path string, raw json.RawMessage, allowed ...string) (map[string]json.RawMessage, error) {
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	for _, k := range allowed {
		if v, p := o.Get(k); p == jsonobj.Present {
			m[k] = v
		}
	}
	if err := o.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

func parseStrings(path string, raw json.RawMessage, max int, check func(path, s string) error) ([]string, error) {
	items, err := jsonobj.Array(path, raw)
	if err != nil {
		return nil, err
	}
	if len(items) > max {
		return nil, errdefs.Invalid("%s: at most %d entries are allowed, got %d", path, max, len(items))
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		p := jsonobj.Index(path, i)
		s, err := jsonobj.String(p, it)
		if err != nil {
			return nil, err
		}
		if err := check(p, s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// parseConfig parses a config union (create or update). Explicit nulls on
// optional members mean "not given", the same as omitting them.
func parseConfig(raw json.RawMessage) (configPatch, error) {
	const path = "config"
	m, err := members(path, raw, "type", "networking", "packages")
	if err != nil {
		// A self_hosted config with extra members should say why rather than
		// "unknown field", so look at the type first.
		if peekType(raw) == wire.EnvironmentConfigSelfHosted {
			if e := selfHostedExtra(raw); e != nil {
				return configPatch{}, e
			}
		}
		return configPatch{}, err
	}
	t, ok := m["type"]
	if !ok {
		return configPatch{}, errdefs.Invalid("config.type: field required")
	}
	typ, err := jsonobj.String("config.type", t)
	if err != nil {
		return configPatch{}, err
	}
	if err := check.Enum("config.type", typ, wire.EnvironmentConfigCloud, wire.EnvironmentConfigSelfHosted); err != nil {
		return configPatch{}, err
	}
	cp := configPatch{Type: typ}
	if typ == wire.EnvironmentConfigSelfHosted {
		// A self_hosted config has no settings; networking
		// and packages would be silently meaningless, so they are refused.
		if err := selfHostedExtra(raw); err != nil {
			return configPatch{}, err
		}
		return cp, nil
	}
	if n, ok := m["networking"]; ok {
		np, err := parseNetworking(n)
		if err != nil {
			return configPatch{}, err
		}
		cp.Networking = &np
	}
	if p, ok := m["packages"]; ok {
		pk, err := parsePackages(p)
		if err != nil {
			return configPatch{}, err
		}
		cp.Packages = pk
	}
	return cp, nil
}

func peekType(raw json.RawMessage) string {
	var v struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.Type
}

func selfHostedExtra(raw json.RawMessage) error {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	var extra []string
	for k, v := range m {
		if k != "type" && !jsonobj.IsNull(v) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return errdefs.Invalid(`config.%s: not supported for self_hosted environments; a self_hosted config is exactly {"type":"self_hosted"}`, extra[0])
}

func parseNetworking(raw json.RawMessage) (networkingPatch, error) {
	const path = "config.networking"
	m, err := members(path, raw, "type", "allowed_hosts", "allow_mcp_servers", "allow_package_managers")
	if err != nil {
		return networkingPatch{}, err
	}
	t, ok := m["type"]
	if !ok {
		return networkingPatch{}, errdefs.Invalid("config.networking.type: field required")
	}
	typ, err := jsonobj.String("config.networking.type", t)
	if err != nil {
		return networkingPatch{}, err
	}
	if err := check.Enum("config.networking.type", typ, wire.NetworkingUnrestricted, wire.NetworkingLimited); err != nil {
		return networkingPatch{}, err
	}
	np := networkingPatch{Type: typ}
	for _, k := range []string{"allowed_hosts", "allow_mcp_servers", "allow_package_managers"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		p := jsonobj.Key(path, k)
		if typ != wire.NetworkingLimited {
			return networkingPatch{}, errdefs.Invalid("%s: only allowed when config.networking.type is %q", p, wire.NetworkingLimited)
		}
		switch k {
		case "allowed_hosts":
			hosts, err := parseStrings(p, v, maxAllowedHosts, checkHost)
			if err != nil {
				return networkingPatch{}, err
			}
			np.AllowedHosts = &hosts
		case "allow_mcp_servers":
			b, err := jsonobj.Bool(p, v)
			if err != nil {
				return networkingPatch{}, err
			}
			np.AllowMCPServers = &b
		case "allow_package_managers":
			b, err := jsonobj.Bool(p, v)
			if err != nil {
				return networkingPatch{}, err
			}
			np.AllowPackageManagers = &b
		}
	}
	return np, nil
}

func parsePackages(raw json.RawMessage) (map[string][]string, error) {
	const path = "config.packages"
	m, err := members(path, raw, append([]string{"type"}, wire.PackageManagers...)...)
	if err != nil {
		return nil, err
	}
	if t, ok := m["type"]; ok {
		typ, err := jsonobj.String(path+".type", t)
		if err != nil {
			return nil, err
		}
		if err := check.Enum(path+".type", typ, "packages"); err != nil {
			return nil, err
		}
	}
	out := map[string][]string{}
	for _, mgr := range wire.PackageManagers {
		v, ok := m[mgr]
		if !ok {
			continue
		}
		list, err := parseStrings(path+"."+mgr, v, maxPackages, checkPackage)
		if err != nil {
			return nil, err
		}
		out[mgr] = list
	}
	return out, nil
}

// checkPackage keeps package specs as given (their schema is not
// documented, so "pandas==2.2" or "serde@1" must pass) but refuses what
// could turn into something other than a package argument when the
// sandbox runs the installer: control characters and leading dashes.
func checkPackage(path, s string) error {
	if strings.TrimSpace(s) == "" {
		return errdefs.Invalid("%s: must not be empty", path)
	}
	if n := utf8.RuneCountInString(s); n > maxPackageLen {
		return errdefs.Invalid("%s: must be at most %d characters, got %d", path, maxPackageLen, n)
	}
	if strings.HasPrefix(strings.TrimSpace(s), "-") {
		return errdefs.Invalid("%s: must be a package, not an option (starts with \"-\")", path)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return errdefs.Invalid("%s: must not contain control characters", path)
		}
	}
	return nil
}

// checkHost accepts what an egress allow-list can enforce by host name:
// a DNS name, a "*." wildcard over a DNS name, or an IP address.
// Schemes, paths, ports and credentials are refused rather than silently
// ignored, so a policy never allows less (or more) than it says.
func checkHost(path, h string) error {
	if h == "" {
		return errdefs.Invalid("%s: must not be empty", path)
	}
	if len(h) > maxHostLen {
		return errdefs.Invalid("%s: must be at most %d characters", path, maxHostLen)
	}
	if strings.Contains(h, "://") {
		return errdefs.Invalid("%s: must be a host name such as \"api.example.com\", not a URL", path)
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return errdefs.Invalid("%s: IPv6 zones are not allowed", path)
		}
		return nil
	}
	if strings.ContainsAny(h, "/?#@:[] ") {
		return errdefs.Invalid("%s: must be a bare host name without scheme, port, path or credentials, got %q", path, h)
	}
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return errdefs.Invalid("%s: a wildcard is only allowed as a leading \"*.\" label, got %q", path, h)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return errdefs.Invalid("%s: empty label in host name %q", path, h)
		}
		if len(l) > 63 {
			return errdefs.Invalid("%s: label %q is longer than 63 characters", path, l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return errdefs.Invalid("%s: label %q must not start or end with \"-\"", path, l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return errdefs.Invalid("%s: invalid character %q in host name %q (use punycode for international names)", path, c, h)
			}
		}
	}
	// An all-digit top label is a mistyped IP address, not a name.
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return errdefs.Invalid("%s: %q is neither a valid IP address nor a host name", path, h)
	}
	return nil
}

// defaultConfig is what a create without config gets: cloud, unrestricted
// egress, nothing preinstalled.
func defaultConfig() wire.EnvironmentConfig {
	return wire.EnvironmentConfig{
		Type:       wire.EnvironmentConfigCloud,
		Networking: wire.Networking{Type: wire.NetworkingUnrestricted},
	}
}

// apply merges the patch over base. Omitted members keep base's values;
// a networking type change starts that policy from its defaults.
func (p configPatch) apply(base wire.EnvironmentConfig) (wire.EnvironmentConfig, error) {
	if p.Type != base.Type {
		return base, errdefs.Invalid("config.type: cannot change an environment's config type from %q to %q; create a new environment instead", base.Type, p.Type).
			WithCode("invalid_config_type_change")
	}
	out := base
	if out.Type != wire.EnvironmentConfigCloud {
		return wire.EnvironmentConfig{Type: out.Type}, nil
	}
	out.Packages = clonePackages(base.Packages)
	if n := p.Networking; n != nil {
		if n.Type != out.Networking.Type {
			out.Networking = wire.Networking{Type: n.Type}
		}
		if n.AllowedHosts != nil {
			out.Networking.AllowedHosts = *n.AllowedHosts
		}
		if n.AllowMCPServers != nil {
			out.Networking.AllowMCPServers = *n.AllowMCPServers
		}
		if n.AllowPackageManagers != nil {
			out.Networking.AllowPackageManagers = *n.AllowPackageManagers
		}
	}
	for mgr, list := range p.Packages {
		*out.Packages.List(mgr) = list
	}
	return out, checkConfig(out)
}

func clonePackages(p wire.Packages) wire.Packages {
	var out wire.Packages
	for _, mgr := range wire.PackageManagers {
		*out.List(mgr) = append([]string(nil), *p.List(mgr)...)
	}
	return out
}

// checkConfig validates rules that span members, on the merged result.
func checkConfig(c wire.EnvironmentConfig) error {
	if c.Type != wire.EnvironmentConfigCloud || c.Networking.Type != wire.NetworkingLimited || c.Networking.AllowPackageManagers {
		return nil
	}
	for _, mgr := range wire.PackageManagers {
		if len(*c.Packages.List(mgr)) > 0 {
			return errdefs.Invalid("config.packages.%s: packages need config.networking.allow_package_managers=true under limited networking", mgr)
		}
	}
	return nil
}
