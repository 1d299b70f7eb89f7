package web

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"github.com/hangarhq/hangar/internal/netpolicy"
	"github.com/hangarhq/hangar/internal/wire"
)

// Policy is what decides, for one session, where web_fetch may go and what
// web_search may return: the agent's web_fetch/web_search tool configs and
// the environment's networking, read fresh for every call so a session
// update or an environment change applies to the next call.
type Policy struct {
	// Fetch and Search are the resolved toolset configs of web_fetch and
	// web_search (allowed_domains, blocked_domains, max_content_tokens,
	// user_location); the zero value allows every domain.
	Fetch  wire.AgentToolConfig
	Search wire.AgentToolConfig
	// Networking is the environment's networking. Only an explicit
	// "unrestricted" lifts the host allowlist: anything else is treated as
	// limited, so a malformed or missing policy fails closed.
	Networking wire.Networking
	// Via, when set, is the session's egress proxy: the fetch leaves
	// through it, and the proxy's policy and internal-address guard decide
	// where it may go instead of Networking and this package's SSRF rule.
	// Nil fetches directly (self_hosted sessions, --sandbox none or
	// unsafe-host).
	Via Dialer
}

// Dialer opens a connection to a forward proxy (*egress.Session does).
type Dialer interface {
	Dial(ctx context.Context) (net.Conn, error)
}

// Unrestricted reports whether the environment allows every public host.
func (p Policy) Unrestricted() bool { return p.Networking.Type == wire.NetworkingUnrestricted }

// checkURL is the policy check of one URL (the requested one and every
// redirect target): scheme, then the tool's domain lists, then the
// environment's networking. The error text is shown to the model as is.
func checkURL(p Policy, u *url.URL) error {
	switch u.Scheme {
	case "http", "https":
	default:
		return fmt.Errorf("only http and https URLs can be fetched, not %q", u.Scheme+":")
	}
	if u.User != nil {
		return fmt.Errorf("URLs with embedded credentials are not fetched")
	}
	host := normHost(u.Hostname())
	if host == "" {
		return fmt.Errorf("the URL has no host")
	}
	if err := checkDomains(p.Fetch, host, u.EscapedPath()); err != nil {
		return err
	}
	if p.Unrestricted() || p.Via != nil {
		return nil
	}
	if hostAllowed(p.Networking, host) {
		return nil
	}
	return fmt.Errorf("host %s is not reachable from this session: the environment's networking is limited and %s is not in its allowed_hosts", host, host)
}

// checkDomains applies a tool's allowed_domains / blocked_domains to a URL.
func checkDomains(c wire.AgentToolConfig, host, path string) error {
	for _, d := range c.BlockedDomains {
		if matchDomain(d, host, path) {
			return fmt.Errorf("%s is blocked by the tool's blocked_domains (%s)", host, d)
		}
	}
	if len(c.AllowedDomains) == 0 {
		return nil
	}
	for _, d := range c.AllowedDomains {
		if matchDomain(d, host, path) {
			return nil
		}
	}
	return fmt.Errorf("%s is not in the tool's allowed_domains (%s)", host, strings.Join(c.AllowedDomains, ", "))
}

// matchDomain reports whether a domain entry covers host and path. Entries
// follow the Messages API's web tools: "example.com" covers the domain and
// its subdomains, "docs.example.com" only that subdomain, "*.example.com"
// only subdomains, and an optional path ("example.com/blog",
// "example.com/*/articles") restricts to URLs under it, "*" matching any
// run of characters.
func matchDomain(entry, host, path string) bool {
	entry = strings.ToLower(strings.TrimSpace(entry))
	hp, pp, hasPath := strings.Cut(entry, "/")
	hp = normHost(hp)
	switch {
	case hp == "":
		return false
	case strings.HasPrefix(hp, "*."):
		if !strings.HasSuffix(host, hp[1:]) {
			return false
		}
	case host != hp && !strings.HasSuffix(host, "."+hp):
		return false
	}
	if !hasPath || pp == "" {
		return true
	}
	return matchPath("/"+pp, path)
}

// matchPath matches a path pattern against a URL path: the pattern covers
// the path itself and everything below it.
func matchPath(pattern, path string) bool {
	if path == "" {
		path = "/"
	}
	var re strings.Builder
	re.WriteString("^")
	for i, part := range strings.Split(strings.TrimSuffix(pattern, "/"), "*") {
		if i > 0 {
			re.WriteString(".*")
		}
		re.WriteString(regexp.QuoteMeta(part))
	}
	re.WriteString("(/.*)?$")
	ok, err := regexp.MatchString(re.String(), path)
	return err == nil && ok
}

// hostAllowed applies a limited environment's allowed_hosts and
// allow_package_managers (netpolicy owns the rules, shared with the egress
// proxy). web_fetch knows no MCP hosts: allow_mcp_servers opens MCP
// endpoints to MCP connections, not to fetches.
func hostAllowed(n wire.Networking, host string) bool {
	n.Type = wire.NetworkingLimited
	return netpolicy.Allowed(n, host, nil)
}

func normHost(h string) string { return netpolicy.NormHost(h) }

func isInternal(a netip.Addr) bool { return netpolicy.IsInternal(a) }

// InternalAllowlist is the operator's exception to the SSRF rule: internal
// addresses (or host names resolving to them) it lists may be fetched, and
// only by sessions whose environment is unrestricted.
type InternalAllowlist struct {
	Prefixes []netip.Prefix
	Hosts    []string
}

// ParseInternalAllowlist reads a comma-separated list of IP addresses, CIDR
// prefixes and host names (HANGAR_WEB_FETCH_ALLOW_INTERNAL).
func ParseInternalAllowlist(s string) (InternalAllowlist, error) {
	var out InternalAllowlist
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out.Prefixes = append(out.Prefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			out.Prefixes = append(out.Prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		if strings.ContainsAny(f, "/:*@ ") {
			return out, fmt.Errorf("%q is not an IP address, CIDR prefix or host name", f)
		}
		out.Hosts = append(out.Hosts, normHost(f))
	}
	return out, nil
}

func (l InternalAllowlist) allows(host string, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	for _, h := range l.Hosts {
		if h == host {
			return true
		}
	}
	return false
}
