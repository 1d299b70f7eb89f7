// Package netpolicy owns the host rules every egress path shares: how an
// environment's limited networking and a credential's allowed_hosts match a
// host name, which registries allow_package_managers opens, and which
// addresses count as internal, and the dial that checks each address as it
// connects. web_fetch and the egress proxy both use it,
// so a host reachable one way is reachable the other way too.
package netpolicy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hangarhq/hangar/internal/wire"
)

// PackageManagerHosts are the registries allow_package_managers opens
// ("PyPI, npm and similar"): apt (Debian, Ubuntu), pip, npm/yarn,
// cargo, go, gem. Only the hosts the stock clients actually contact are
// listed, so the flag does not become a general bypass.
var PackageManagerHosts = []string{
	"deb.debian.org", "security.debian.org",
	"archive.ubuntu.com", "security.ubuntu.com", "ports.ubuntu.com",
	"pypi.org", "files.pythonhosted.org",
	"registry.npmjs.org", "registry.yarnpkg.com",
	"crates.io", "index.crates.io", "static.crates.io",
	"proxy.golang.org", "sum.golang.org",
	"rubygems.org", "index.rubygems.org",
}

// NormHost lower-cases a host, strips IPv6 brackets and a trailing dot, so
// "Example.COM." and "example.com" are the same host.
func NormHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(strings.TrimSpace(h), "[]")), ".")
}

// MatchHost applies one allowed_hosts entry to a normalised host: a bare
// name or IP address matches exactly, "*.example.com" matches its
// subdomains only (not example.com itself). Ports are not part of the
// syntax, so any port of an allowed host is allowed.
func MatchHost(entry, host string) bool {
	e := NormHost(entry)
	if e == "" || host == "" {
		return false
	}
	if strings.HasPrefix(e, "*.") {
		return len(e) > 2 && strings.HasSuffix(host, e[1:])
	}
	if e == host {
		return true
	}
	// An IP entry also matches the same address written in another form a
	// URL parser accepts (for example IPv4-mapped IPv6).
	if a, err := netip.ParseAddr(e); err == nil {
		if b, err := netip.ParseAddr(host); err == nil && a.Unmap() == b.Unmap() {
			return true
		}
	}
	return false
}

// MatchAny reports whether any entry matches host.
func MatchAny(entries []string, host string) bool {
	for _, e := range entries {
		if MatchHost(e, host) {
			return true
		}
	}
	return false
}

// Allowed applies an environment's networking to a normalised host. Only an
// explicit "unrestricted" allows everything: anything else is treated as
// limited, so a malformed or missing policy fails closed (callers resolve
// "not configured means unrestricted" before they get here).
// mcpHosts are the agent's MCP server hosts, opened by allow_mcp_servers.
func Allowed(n wire.Networking, host string, mcpHosts []string) bool {
	if n.Type == wire.NetworkingUnrestricted {
		return true
	}
	if MatchAny(n.AllowedHosts, host) {
		return true
	}
	if n.AllowPackageManagers {
		for _, h := range PackageManagerHosts {
			if h == host {
				return true
			}
		}
	}
	if n.AllowMCPServers {
		for _, h := range mcpHosts {
			if NormHost(h) == host {
				return true
			}
		}
	}
	return false
}

// blockedRanges are the special-purpose ranges netip's predicates miss:
// "this network", carrier-grade NAT, IETF protocol assignments,
// benchmarking, reserved, NAT64 and 6to4/Teredo (which can embed any IPv4
// address, private ones included).
var blockedRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2002::/16"),
}

// IsInternal reports whether an address belongs to the host itself or a
// private network: the addresses an SSRF attack aims at (the server's own
// API, cloud metadata at 169.254.169.254, the operator's LAN).
func IsInternal(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || !a.IsValid() {
		return true
	}
	for _, p := range blockedRanges {
		if p.Contains(a) {
			return true
		}
	}
	return a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// Resolver resolves host names; *net.Resolver satisfies it (tests map
// names to addresses).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialChecked connects to addr ("host:port"), trying the host's addresses
// in turn and checking each at the moment of connecting: checking the name
// earlier would let DNS rebinding swap in an internal address between
// check and use. refuse returns why an address may not be connected to
// (nil: it may); the last refusal or connection error is returned when no
// address connects.
func DialChecked(ctx context.Context, network, addr string, r Resolver,
	dial func(ctx context.Context, network, addr string) (net.Conn, error),
	refuse func(host string, a netip.Addr) error) (net.Conn, error) {
	h, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, err
	}
	host := NormHost(h)
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, fmt.Errorf("cannot resolve %s: %v", host, err)
	}
	var lastErr error = fmt.Errorf("%s has no addresses", host)
	for _, a := range addrs {
		a = a.Unmap()
		if err := refuse(host, a); err != nil {
			lastErr = err
			continue
		}
		conn, err := dial(ctx, network, netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// Effective is the networking a session of an environment with config c is
// held to, by its sandbox's egress proxy and by web_fetch alike: an
// environment without networking of its own (self_hosted, or cloud created
// without it) is unrestricted.
func Effective(c wire.EnvironmentConfig) wire.Networking {
	if c.Type != wire.EnvironmentConfigCloud || c.Networking.Type == "" {
		return wire.Networking{Type: wire.NetworkingUnrestricted}
	}
	return c.Networking
}
